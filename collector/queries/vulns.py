"""Known vulnerabilities as people read them (API, web UI, findings, metrics): per host a
list, per fleet the worst first (exploited in the wild, then EPSS, then severity), grouped by
the one update that fixes them. KEV and EPSS are joined here, at read time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from collector.models import Host, Site, VulnEpss, VulnFeed, VulnHostState, VulnKev, table_of
from collector.vuln_rows import host_vuln_rows
from collector.vulns.importer import FeedState, feed_states
from collector.vulns.severity import rank

_H = table_of(Host)
_S = table_of(Site)
_KEV = table_of(VulnKev)
_STATE = table_of(VulnHostState)
_FEEDS = table_of(VulnFeed)
# Fleet-wide results by what they depend on (see stamp): they change when hosts are matched,
# a feed is imported or a host moves, not with each report; computing them over 20,000
# hosts takes minutes on SQLite (benchmarks/vulns.py), so a process keeps the last few.
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


def _fleet_groups(
    conn: sa.Connection,
    org_id: int | None,
    site: str | None,
    kev: bool | None,
    package: str | None,
) -> tuple[list[FixGroup], int]:
    _HV = host_vuln_rows()
    query = (
        _joined(
            sa.select(
                _HV.c.host_id,
                _HV.c.kind,
                _HV.c.package,
                _HV.c.fixed,
                _HV.c.status,
                _HV.c.cve,
                _HV.c.severity,
                _EPSS.c.epss,
                _KEV.c.cve.label("kev_cve"),
            ).select_from(_HV),
            _HV,
        )
        .join(_H, _H.c.id == _HV.c.host_id)
        .join(_S, _S.c.id == _H.c.site_id)
    )
    if org_id is not None:
        query = query.where(_H.c.org_id == org_id)
    if site is not None:
        query = query.where(_S.c.name == site)
    if package is not None:
        query = query.where(_HV.c.package == package)
    if kev is True:
        query = query.where(_KEV.c.cve.is_not(None))
    elif kev is False:
        query = query.where(_KEV.c.cve.is_(None))
    # Aggregated in the database: a fleet of 20,000 hosts has millions of (host, CVE) rows.
    f = query.subquery("f")
    key = (f.c.kind, f.c.package, f.c.fixed, f.c.status)
    groups: dict[tuple[str, str, str | None, str], dict[str, Any]] = {}
    for kind, pkg, fixed, status, n in conn.execute(
        sa.select(*key, sa.func.count(sa.distinct(f.c.host_id))).group_by(*key)
    ):
        groups[(kind, pkg, fixed, status)] = {
            "hosts": int(n), "cves": set(), "kev": set(), "epss": None, "severity": None,
        }  # fmt: skip
    for r in conn.execute(sa.select(*key, f.c.cve, f.c.severity, f.c.epss, f.c.kev_cve).distinct()):
        g = groups[(r.kind, r.package, r.fixed, r.status)]
        g["cves"].add(r.cve)
        if r.kev_cve:
            g["kev"].add(r.cve)
        if r.epss is not None and (g["epss"] is None or r.epss > g["epss"]):
            g["epss"] = r.epss
        if rank(r.severity) < rank(g["severity"]):
            g["severity"] = r.severity
    vulnerable = conn.execute(sa.select(sa.func.count(sa.distinct(f.c.host_id)))).scalar_one()
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
    return items, int(vulnerable)


def vulnerable_host_counts(conn: sa.Connection) -> list[tuple[str, str, bool, int]]:
    """(site, severity, kev, hosts): hosts with at least one vulnerability of that severity
    and KEV state, per site; a host counts once per (severity, kev)."""
    counts: list[tuple[str, str, bool, int]] = _cached(
        ("counts", *stamp(conn)), lambda: _host_counts(conn)
    )
    return counts


def _host_counts(conn: sa.Connection) -> list[tuple[str, str, bool, int]]:
    kev = _KEV.c.cve.is_not(None).label("kev")
    _HV = host_vuln_rows()
    query = (
        sa.select(_S.c.name, _HV.c.severity, kev, _HV.c.host_id)
        .distinct()
        .select_from(_HV)
        .join(_H, _H.c.id == _HV.c.host_id)
        .join(_S, _S.c.id == _H.c.site_id)
        .outerjoin(_KEV, _KEV.c.cve == _HV.c.cve)
    )
    counts: dict[tuple[str, str, bool], int] = {}
    for site, severity, in_kev, _host in conn.execute(query):
        key = (site, severity or "unknown", bool(in_kev))
        counts[key] = counts.get(key, 0) + 1
    return [(*key, n) for key, n in sorted(counts.items())]


def feed_items(conn: sa.Connection) -> list[FeedState]:
    return feed_states(conn)
