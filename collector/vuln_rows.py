"""Each host's known vulnerabilities as one selectable, for every reader (API, web UI,
findings, metrics): its Debian/Ubuntu source package versions joined with their verdicts
(``vuln_package_results``, stored once per package version however many hosts have it), and
its Windows results (``host_vulns``). Nothing per host and CVE is written for packages: a
new feed re-matches 20,000 hosts by computing each distinct package version once."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from collector.models import (
    Host,
    HostVuln,
    SoftwareRow,
    VulnHostLevel,
    VulnHostPackage,
    VulnKev,
    VulnPackageResult,
    table_of,
)

_SW = table_of(SoftwareRow)
_H = table_of(Host)
_RES = table_of(VulnPackageResult)
_HV = table_of(HostVuln)
_HP = table_of(VulnHostPackage)
_LEVELS = table_of(VulnHostLevel)
# The fleet page's index (package version, host); a match of many hosts rebuilds it at the end.
HOST_PACKAGES_KEY = next(ix for ix in _HP.indexes if ix.name == "ix_vuln_host_packages_key")
_KEV = table_of(VulnKev)
CHUNK = 2000
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


def refresh_host_packages(conn: sa.Connection, host_ids: Sequence[int], rows: sa.Table) -> None:
    """Rewrite these hosts' package versions that have verdicts (``vuln_host_packages``), after
    their verdicts are stored: what the fleet page counts hosts by. ``rows``: the hosts'
    package versions (host_id, release, pro, package, version) and whether they have verdicts
    (``verdicts``), read from ``software`` once by the match (collector.vulns.matching)."""
    ids = sorted(set(host_ids))
    for start in range(0, len(ids), CHUNK):
        conn.execute(sa.delete(_HP).where(_HP.c.host_id.in_(ids[start : start + CHUNK])))
    found = sa.select(rows.c.host_id, rows.c.release, rows.c.pro, rows.c.package, rows.c.version)
    found = found.where(rows.c.verdicts)
    # Binary packages of one source repeat a row: SQLite skips them by the primary key
    # (cheaper than sorting them out with DISTINCT first), PostgreSQL by DISTINCT.
    insert = sa.insert(_HP)
    if conn.dialect.name == "sqlite":
        insert = insert.prefix_with("OR IGNORE")
    else:
        found = found.distinct()
    conn.execute(insert.from_select(["host_id", "release", "pro", "package", "version"], found))


def refresh_levels(conn: sa.Connection, host_ids: Sequence[int] | None = None) -> None:
    """Rewrite the (severity, KEV) pairs of these hosts' vulnerabilities (all hosts: None),
    from their package versions, their Windows results and the KEV catalogue: what the metric
    ``inventar_vulnerable_hosts`` counts. Called by the match and after every import."""
    severity = sa.func.coalesce(_RES.c.severity, "unknown")
    per_version = (
        sa.select(_RES.c.release, _RES.c.pro, _RES.c.package, _RES.c.version,
                  severity.label("severity"), _KEV.c.cve.is_not(None).label("kev"))
        .distinct()
        .select_from(_RES)
        .outerjoin(_KEV, _KEV.c.cve == _RES.c.cve)
        .subquery("levels")
    )  # fmt: skip
    deb = (
        sa.select(_HP.c.host_id, per_version.c.severity, per_version.c.kev)
        .select_from(_HP)
        # Package first: SQLite's automatic index on the pairs takes the columns in this
        # order, and a lookup's comparisons are decided by the package then (not the release,
        # the same for most hosts): 15% less for a chunk of a match.
        .join(per_version, sa.and_(per_version.c.package == _HP.c.package,
                                   per_version.c.version == _HP.c.version,
                                   per_version.c.release == _HP.c.release,
                                   per_version.c.pro == _HP.c.pro))
    )  # fmt: skip
    windows = (
        sa.select(_HV.c.host_id, sa.func.coalesce(_HV.c.severity, "unknown"),
                  _KEV.c.cve.is_not(None))
        .select_from(_HV)
        .outerjoin(_KEV, _KEV.c.cve == _HV.c.cve)
    )  # fmt: skip
    columns = ["host_id", "severity", "kev"]
    if host_ids is None:
        conn.execute(sa.delete(_LEVELS))
        rows = sa.union(deb, windows)
        conn.execute(sa.insert(_LEVELS).from_select(columns, rows))
        return
    # A match's chunk: its hosts' rows replaced (SQLite joins each package version with an
    # automatic index on the per-version pairs, a few thousand rows).
    ids = sorted(set(host_ids))
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        conn.execute(sa.delete(_LEVELS).where(_LEVELS.c.host_id.in_(part)))
        rows = sa.union(deb.where(_HP.c.host_id.in_(part)), windows.where(_HV.c.host_id.in_(part)))
        conn.execute(sa.insert(_LEVELS).from_select(columns, rows))
