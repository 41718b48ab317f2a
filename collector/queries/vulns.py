"""Known vulnerabilities as people read them (API, web UI, findings, metrics): per host a
list, per fleet the worst first (exploited in the wild, then EPSS, then severity), grouped by
the one update that fixes them. KEV and EPSS are joined here, at read time. Fleet-wide
figures aggregate before joining: hosts are counted per package version
(``vuln_host_packages``) and only those versions are joined with their verdicts; the metric
counts ``vuln_host_levels`` (both written by the match and after imports)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from collector.models import (
    Host,
    HostVuln,
    Site,
    VulnEpss,
    VulnFeed,
    VulnHostLevel,
    VulnHostPackage,
    VulnHostState,
    VulnKev,
    VulnPackageResult,
    table_of,
)
from collector.vuln_rows import host_vuln_rows
from collector.vulns.importer import FeedState, feed_states
from collector.vulns.severity import rank

_H = table_of(Host)
_S = table_of(Site)
_KEV = table_of(VulnKev)
_STATE = table_of(VulnHostState)
_FEEDS = table_of(VulnFeed)
_HV = table_of(HostVuln)
_HP = table_of(VulnHostPackage)
_RES = table_of(VulnPackageResult)
_LEVELS = table_of(VulnHostLevel)
# Fleet-wide results by what they depend on (see stamp): they change when hosts are matched,
# a feed is imported or a host moves, not with each report. They are read from per-host
# aggregates (vuln_host_packages, vuln_host_levels: about a second at 20,000 hosts on SQLite,
# benchmarks/vulns.py); a process keeps the last few.
_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_SIZE = 32


def stamp(conn: sa.Connection) -> tuple[Any, ...]:
    """What fleet-wide vulnerability results depend on: the last match, the last import,
    and the hosts' count and sites (a moved host changes a site's figures)."""
    matched = conn.execute(sa.select(sa.func.max(_STATE.c.matched_at), sa.func.count())).one()
    imported = conn.execute(sa.select(sa.func.max(_FEEDS.c.imported_at))).scalar()
    hosts = conn.execute(sa.select(sa.func.count(), sa.func.sum(_H.c.site_id))).one()
    return (str(conn.engine.url), *matched, imported, *hosts)


def _cached(key: tuple[Any, ...], compute: Any) -> Any:
    if key in _CACHE:
        return _CACHE[key]
    value = compute()
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = value
    return value


_EPSS = table_of(VulnEpss)


class Kev(BaseModel):
    date_added: dt.date | None
    due_date: dt.date | None
    ransomware: str | None
    name: str | None


class HostVulnItem(BaseModel):
    cve: str
    kind: str
    package: str
    installed: str | None
    fixed: str | None
    # fix (an update fixes it), no-fix (no fix yet), pro (fix through Ubuntu Pro only)
    status: str
    severity: str | None
    epss: float | None
    epss_percentile: float | None
    # Exploited in the wild (CISA KEV), with CISA's due date and ransomware use
    kev: Kev | None


class FeedItem(BaseModel):
    feed: str
    source: str
    sha256: str
    feed_date: dt.datetime | None
    imported_at: dt.datetime
    records: int
    age_seconds: float
    stale: bool


class HostVulnList(BaseModel):
    host_id: int
    items: list[HostVulnItem]
    feeds: list[FeedItem]


class FixGroup(BaseModel):
    """The CVEs one update fixes (a package's fixed version, or a KB), over the fleet."""

    kind: str
    package: str
    fixed: str | None
    status: str
    hosts: int
    cves: list[str]
    kev: list[str]
    max_epss: float | None
    severity: str | None


class FleetVulns(BaseModel):
    items: list[FixGroup]
    total: int
    limit: int
    offset: int
    vulnerable_hosts: int
    feeds: list[FeedItem]


def _feeds(conn: sa.Connection) -> list[FeedItem]:
    return [FeedItem(**state.__dict__) for state in feed_states(conn)]


def _columns(_HV: Any) -> list[Any]:
    return [
        _HV.c.cve,
        _HV.c.kind,
        _HV.c.package,
        _HV.c.installed,
        _HV.c.fixed,
        _HV.c.status,
        _HV.c.severity,
        _EPSS.c.epss,
        _EPSS.c.percentile,
        _KEV.c.cve.label("kev_cve"),
        _KEV.c.date_added,
        _KEV.c.due_date,
        _KEV.c.ransomware,
        _KEV.c.name,
    ]


def _joined(query: Any, _HV: Any) -> Any:
    return query.outerjoin(_KEV, _KEV.c.cve == _HV.c.cve).outerjoin(_EPSS, _EPSS.c.cve == _HV.c.cve)


def worst_first(item: HostVulnItem) -> tuple[Any, ...]:
    return (item.kev is None, -(item.epss or 0.0), rank(item.severity), item.cve, item.package)


def host_vulns(conn: sa.Connection, host_id: int) -> HostVulnList:
    _HV = host_vuln_rows([host_id])
    rows = conn.execute(_joined(sa.select(*_columns(_HV)).select_from(_HV), _HV)).all()
    items = [
        HostVulnItem(
            cve=r.cve,
            kind=r.kind,
            package=r.package,
            installed=r.installed,
            fixed=r.fixed,
            status=r.status,
            severity=r.severity,
            epss=r.epss,
            epss_percentile=r.percentile,
            kev=Kev(
                date_added=r.date_added, due_date=r.due_date, ransomware=r.ransomware, name=r.name
            )
            if r.kev_cve
            else None,
        )
        for r in rows
    ]
    items.sort(key=worst_first)
    return HostVulnList(host_id=host_id, items=items, feeds=_feeds(conn))


def fleet_vulns(
    conn: sa.Connection,
    org_id: int | None,
    *,
    site: str | None = None,
    kev: bool | None = None,
    package: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> FleetVulns:
    key = ("fleet", org_id, site, kev, package, *stamp(conn))
    groups, vulnerable = _cached(key, lambda: _fleet_groups(conn, org_id, site, kev, package))
    return FleetVulns(
        items=groups[offset : offset + limit],
        total=len(groups),
        limit=limit,
        offset=offset,
        vulnerable_hosts=vulnerable,
        feeds=_feeds(conn),
    )


GroupKey = tuple[str, str, str | None, str]
# a package version's verdict: the group it belongs to, cve, severity, epss, kev cve
_Verdict = tuple[GroupKey, str, str | None, float | None, str | None]


def _host_filter(org_id: int | None, site: str | None) -> list[Any]:
    where: list[Any] = []
    if org_id is not None:
        where.append(_H.c.org_id == org_id)
    if site is not None:
        where.append(_S.c.name == site)
    return where


def _new_group(hosts: int) -> dict[str, Any]:
    return {"hosts": hosts, "cves": set(), "kev": set(), "epss": None, "severity": None}


def _add(g: dict[str, Any], cve: str, severity: str | None, epss: float | None, kev: Any) -> None:
    g["cves"].add(cve)
    if kev:
        g["kev"].add(cve)
    if epss is not None and (g["epss"] is None or epss > g["epss"]):
        g["epss"] = epss
    if rank(severity) < rank(g["severity"]):
        g["severity"] = severity


def _windows_groups(
    conn: sa.Connection,
    where: list[Any],
    kev: bool | None,
    package: str | None,
    groups: dict[GroupKey, dict[str, Any]],
) -> set[int]:
    """The Windows results (stored per host and CVE: few hosts), aggregated in the database."""
    query = (
        sa.select(_HV.c.host_id, _HV.c.kind, _HV.c.package, _HV.c.fixed, _HV.c.status,
                  _HV.c.cve, _HV.c.severity, _EPSS.c.epss, _KEV.c.cve.label("kev_cve"))
        .select_from(_HV)
        .outerjoin(_KEV, _KEV.c.cve == _HV.c.cve)
        .outerjoin(_EPSS, _EPSS.c.cve == _HV.c.cve)
        .join(_H, _H.c.id == _HV.c.host_id)
        .join(_S, _S.c.id == _H.c.site_id)
        .where(*where)
    )  # fmt: skip
    query = _narrowed(query, _HV.c.package, package, kev)
    f = query.subquery("f")
    key = (f.c.kind, f.c.package, f.c.fixed, f.c.status)
    for kind, pkg, fixed, status, n in conn.execute(
        sa.select(*key, sa.func.count(sa.distinct(f.c.host_id))).group_by(*key)
    ):
        groups[(kind, pkg, fixed, status)] = _new_group(int(n))
    for r in conn.execute(sa.select(*key, f.c.cve, f.c.severity, f.c.epss, f.c.kev_cve).distinct()):
        _add(groups[(r.kind, r.package, r.fixed, r.status)], r.cve, r.severity, r.epss, r.kev_cve)
    return set(conn.execute(sa.select(f.c.host_id).distinct()).scalars())


def _narrowed(query: Any, column: Any, package: str | None, kev: bool | None) -> Any:
    """The fleet query cut to one package and to what KEV lists (or does not)."""
    if package is not None:
        query = query.where(column == package)
    if kev is True:
        query = query.where(_KEV.c.cve.is_not(None))
    elif kev is False:
        query = query.where(_KEV.c.cve.is_(None))
    return query


def _deb_groups(
    conn: sa.Connection,
    where: list[Any],
    kev: bool | None,
    package: str | None,
    groups: dict[GroupKey, dict[str, Any]],
) -> set[int]:
    """Debian/Ubuntu: hosts are counted per package version first (``vuln_host_packages``,
    one row per host and vulnerable version), and only these few thousand versions are
    joined with their verdicts; a host counts once per group even with two versions."""
    verdicts: dict[tuple[str, bool, str, str], list[_Verdict]] = {}
    query = (
        sa.select(_RES.c.release, _RES.c.pro, _RES.c.package, _RES.c.version, _RES.c.fixed,
                  _RES.c.status, _RES.c.cve, _RES.c.severity, _EPSS.c.epss,
                  _KEV.c.cve.label("kev_cve"))
        .select_from(_RES)
        .outerjoin(_KEV, _KEV.c.cve == _RES.c.cve)
        .outerjoin(_EPSS, _EPSS.c.cve == _RES.c.cve)
    )  # fmt: skip
    query = _narrowed(query, _RES.c.package, package, kev)
    for r in conn.execute(query):
        group = ("deb", r.package, r.fixed, r.status)
        verdicts.setdefault((r.release, bool(r.pro), r.package, r.version), []).append(
            (group, r.cve, r.severity, r.epss, r.kev_cve)
        )
    if not verdicts:
        return set()
    # Hosts outside the filter (org, site) are joined out only when there are any.
    hp: Any = sa.select(_HP).select_from(_HP)
    excluded = 0
    if where:
        excluded = conn.execute(
            sa.select(sa.func.count()).select_from(_H).join(_S, _S.c.id == _H.c.site_id)
            .where(sa.not_(sa.and_(*where)))
        ).scalar_one()  # fmt: skip
    if excluded:
        hp = hp.join(_H, _H.c.id == _HP.c.host_id).join(_S, _S.c.id == _H.c.site_id).where(*where)
    if package is not None:
        hp = hp.where(_HP.c.package == package)
    f = hp.subquery("hp")
    version = (f.c.release, f.c.pro, f.c.package, f.c.version)
    counts: dict[GroupKey, int] = {}
    members: dict[GroupKey, list[_Verdict]] = {}
    for release, pro, pkg, ver, n in conn.execute(
        sa.select(*version, sa.func.count()).group_by(*version)
    ):
        rows = verdicts.get((release, bool(pro), pkg, ver))
        if not rows:
            continue
        for group in {row[0] for row in rows}:
            counts[group] = counts.get(group, 0) + int(n)
        for row in rows:
            members.setdefault(row[0], []).append(row)
    # A host with two versions of one package in the same group was counted twice.
    doubles = (
        sa.select(f.c.host_id, f.c.release, f.c.pro, f.c.package)
        .group_by(f.c.host_id, f.c.release, f.c.pro, f.c.package)
        .having(sa.func.count() > 1)
        .subquery("doubles")
    )
    seen: dict[tuple[int, GroupKey], int] = {}
    for host_id, release, pro, pkg, ver in conn.execute(
        sa.select(f.c.host_id, *version).join(doubles, sa.and_(
            doubles.c.host_id == f.c.host_id, doubles.c.release == f.c.release,
            doubles.c.pro == f.c.pro, doubles.c.package == f.c.package))
    ):  # fmt: skip
        for group in {row[0] for row in verdicts.get((release, bool(pro), pkg, ver), [])}:
            if (host_id, group) in seen:
                counts[group] -= 1
            seen[(host_id, group)] = 1
    for group, n in counts.items():
        g = groups[group] = _new_group(n)
        for _, cve, severity, epss, kev_cve in members[group]:
            _add(g, cve, severity, epss, kev_cve)
    # The hosts with any of these results (without a KEV filter every stored version has some;
    # without a package filter either, the caller counts vuln_host_levels instead: fewer rows).
    if kev is None and package is None:
        return set()
    if kev is None:
        return set(conn.execute(sa.select(f.c.host_id).distinct()).scalars())
    return {
        host_id
        for host_id, release, pro, pkg, ver in conn.execute(sa.select(f.c.host_id, *version))
        if (release, bool(pro), pkg, ver) in verdicts
    }


def _fleet_groups(
    conn: sa.Connection,
    org_id: int | None,
    site: str | None,
    kev: bool | None,
    package: str | None,
) -> tuple[list[FixGroup], int]:
    where = _host_filter(org_id, site)
    groups: dict[GroupKey, dict[str, Any]] = {}
    hosts = _deb_groups(conn, where, kev, package, groups)
    hosts |= _windows_groups(conn, where, kev, package, groups)
    if kev is None and package is None:
        # Every host with a result has a (severity, KEV) row: fewer rows than its versions.
        query = sa.select(_LEVELS.c.host_id).distinct()
        if where:
            query = query.join(_H, _H.c.id == _LEVELS.c.host_id)
            query = query.join(_S, _S.c.id == _H.c.site_id).where(*where)
        hosts = set(conn.execute(query).scalars())
    items = [
        FixGroup(
            kind=k[0],
            package=k[1],
            fixed=k[2],
            status=k[3],
            hosts=g["hosts"],
            cves=sorted(g["cves"]),
            kev=sorted(g["kev"]),
            max_epss=g["epss"],
            severity=g["severity"],
        )
        for k, g in groups.items()
    ]
    items.sort(
        key=lambda i: (
            not i.kev,
            -(i.max_epss or 0.0),
            rank(i.severity),
            -i.hosts,
            i.package,
            i.fixed or "",
        )
    )
    return items, len(hosts)


def vulnerable_host_counts(conn: sa.Connection) -> list[tuple[str, str, bool, int]]:
    """(site, severity, kev, hosts): hosts with at least one vulnerability of that severity
    and KEV state, per site; a host counts once per (severity, kev)."""
    counts: list[tuple[str, str, bool, int]] = _cached(
        ("counts", *stamp(conn)), lambda: _host_counts(conn)
    )
    return counts


def _host_counts(conn: sa.Connection) -> list[tuple[str, str, bool, int]]:
    # One row per host and (severity, KEV) of its vulnerabilities, written by the match and
    # after imports (collector.vuln_rows.refresh_levels): one small GROUP BY here.
    query = (
        sa.select(_S.c.name, _LEVELS.c.severity, _LEVELS.c.kev, sa.func.count())
        .select_from(_LEVELS)
        .join(_H, _H.c.id == _LEVELS.c.host_id)
        .join(_S, _S.c.id == _H.c.site_id)
        .group_by(_S.c.name, _LEVELS.c.severity, _LEVELS.c.kev)
    )
    counts: dict[tuple[str, str, bool], int] = {}
    for site, severity, in_kev, n in conn.execute(query):
        key = (site, severity, bool(in_kev))
        counts[key] = counts.get(key, 0) + int(n)
    return [(*key, n) for key, n in sorted(counts.items())]


def feed_items(conn: sa.Connection) -> list[FeedState]:
    return feed_states(conn)
