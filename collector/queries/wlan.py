"""WLAN per site: the networks agents are connected to and the networks they see (their last
scan), by security mode, and the hosts connected to an open or WEP network (the rule of
``sec.wlan.encryption`` and of the alert "open or WEP WLAN in use")."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from collector.models import Host, HostSection, Site, WlanRow, table_of
from collector.paging import in_scope
from collector.queries.hosts import INSECURE_WLAN

_H = table_of(Host)
_S = table_of(Site)
_W = table_of(WlanRow)
_SEC = table_of(HostSection)


@dataclass
class SiteWlan:
    site_id: int
    site: str
    kind: str
    # (ssid, security) -> hosts connected / hosts that see it
    connected: Counter[tuple[str, str]]
    seen: Counter[tuple[str, str]]


@dataclass(frozen=True)
class InsecureConnection:
    host_id: int
    hostname: str | None
    site: str
    ssid: str | None
    security: str


def wlan_by_site(session: Session, org_id: int | None, site: str | None = None) -> list[SiteWlan]:
    conn = session.connection()
    sites: dict[int, SiteWlan] = {}
    site_query = sa.select(_S.c.id, _S.c.name, _S.c.kind).order_by(_S.c.name)
    if org_id is not None:
        site_query = site_query.where(_S.c.org_id == org_id)
    if site is not None:
        site_query = site_query.where(_S.c.name == site)
    for site_id, name, kind in conn.execute(site_query):
        sites[site_id] = SiteWlan(site_id, name, kind, Counter(), Counter())
    connected = in_scope(
        sa.select(_H.c.site_id, _W.c.ssid, _W.c.security, sa.func.count(sa.distinct(_H.c.id)))
        .join(_H, _H.c.id == _W.c.host_id)
        .join(_S, _S.c.id == _H.c.site_id)
        .where(_W.c.connected.is_(True))
        .group_by(_H.c.site_id, _W.c.ssid, _W.c.security),
        org_id, site,
    )  # fmt: skip
    for site_id, ssid, security, n in conn.execute(connected):
        if site_id in sites:
            sites[site_id].connected[(ssid or "", security or "unknown")] += int(n)
    scans = in_scope(
        sa.select(_H.c.site_id, _SEC.c.data)
        .join(_H, _H.c.id == _SEC.c.host_id)
        .join(_S, _S.c.id == _H.c.site_id)
        .where(_SEC.c.section == "wlan"),
        org_id, site,
    )  # fmt: skip
    for site_id, data in conn.execute(scans):
        if site_id not in sites:
            continue
        try:
            visible = (json.loads(data) or {}).get("visible") or []
        except (ValueError, AttributeError):
            continue
        networks = {
            (str(v.get("ssid") or ""), str(v.get("security") or "unknown"))
            for v in visible
            if isinstance(v, dict)
        }
        for network in networks:  # a host that sees a network twice (two BSSIDs) counts once
            sites[site_id].seen[network] += 1
    return list(sites.values())


def insecure_connections(
    session: Session, org_id: int | None, site: str | None = None
) -> list[InsecureConnection]:
    query = in_scope(
        sa.select(_H.c.id, _H.c.hostname, _S.c.name, _W.c.ssid, _W.c.security)
        .join(_H, _H.c.id == _W.c.host_id)
        .join(_S, _S.c.id == _H.c.site_id)
        .where(_W.c.connected.is_(True), _W.c.security.in_(INSECURE_WLAN))
        .order_by(_S.c.name, _H.c.hostname),
        org_id, site,
    )  # fmt: skip
    return [InsecureConnection(*row) for row in session.connection().execute(query)]
