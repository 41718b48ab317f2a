"""Each host's known vulnerabilities as one selectable, for every reader (API, web UI,
findings, metrics): its Debian/Ubuntu source package versions joined with their verdicts
(``vuln_package_results``, stored once per package version however many hosts have it), and
its Windows results (``host_vulns``). Nothing per host and CVE is written for packages: a
new feed re-matches 20,000 hosts by computing each distinct package version once."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from collector.models import Host, HostVuln, SoftwareRow, VulnPackageResult, table_of

_SW = table_of(SoftwareRow)
_H = table_of(Host)
_RES = table_of(VulnPackageResult)
_HV = table_of(HostVuln)
# A host counts as having Ubuntu Pro only when its agent says so (unknown = without).
PRO = sa.type_coerce(sa.func.coalesce(_H.c.ubuntu_pro, sa.false()), sa.Boolean)


def host_vuln_rows(host_ids: Sequence[int] | None = None) -> sa.Subquery:
    """Columns host_id, kind (deb, windows), package, installed, fixed, cve, status,
    severity; each (host, package version, CVE) once however many binary packages share
    the source. ``host_ids``: only these hosts (the filter is applied inside, where the
    indexes are)."""
    deb = (
        sa.select(
            _SW.c.host_id.label("host_id"),
            sa.literal("deb").label("kind"),
            _SW.c.source.label("package"),
            _SW.c.source_version.label("installed"),
            _RES.c.fixed.label("fixed"),
            _RES.c.cve.label("cve"),
            _RES.c.status.label("status"),
            _RES.c.severity.label("severity"),
        )
        .distinct()
        .select_from(_SW)
        .join(_H, _H.c.id == _SW.c.host_id)
        .join(
            _RES,
            sa.and_(
                _RES.c.release == _H.c.os_codename,
                _RES.c.package == _SW.c.source,
                _RES.c.version == _SW.c.source_version,
                _RES.c.pro == PRO,
            ),
        )
    )
    windows = sa.select(
        _HV.c.host_id, _HV.c.kind, _HV.c.package, _HV.c.installed, _HV.c.fixed, _HV.c.cve,
        _HV.c.status, _HV.c.severity,
    )  # fmt: skip
    if host_ids is not None:
        ids = sorted(set(host_ids))
        deb = deb.where(_SW.c.host_id.in_(ids))
        windows = windows.where(_HV.c.host_id.in_(ids))
    return sa.union_all(deb, windows).subquery("hv")
