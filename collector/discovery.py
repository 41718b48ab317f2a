"""Devices on the network, as agents' discoveries (ARP sweeps) report them.

A device is known by its MAC address within an organization; each discovery updates its IP,
vendor, open ports, site and last-seen time. A device is *managed* when its MAC belongs to an
interface of a host that reports to the collector (by agent or SSH): that is computed when
asked, so a device becomes managed the moment its host's report arrives.

The device checks (policies/devices.yaml: an unmanaged device, legacy ports) are evaluated
by collector.findings.devices.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from collector.db import Database
from collector.ingest import AgentIdentity
from collector.models import Device, Host, InterfaceRow, Site, table_of, utcnow
from collector.paging import page, where_given

log = logging.getLogger(__name__)

MAX_DEVICES = 16384
MAX_PORTS = 64
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

_DEVICES = table_of(Device)
_IFACES = table_of(InterfaceRow)
_HOSTS = table_of(Host)
_SITES = table_of(Site)


def normalize_mac(value: str) -> str:
    """``AA-BB-CC-DD-EE-FF`` / ``aabb.ccdd.eeff`` / ``aa:bb:…`` -> ``aa:bb:cc:dd:ee:ff``."""
    digits = re.sub(r"[^0-9a-fA-F]", "", value).lower()
    mac = ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    if not _MAC.fullmatch(mac) or len(re.sub(r"[0-9a-fA-F:\-.]", "", value)) != 0:
        raise ValueError(f"{value[:40]!r} is not a MAC address")
    return mac


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value[:60]!r} is not an IPv4 address") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=False))
    except ValueError:
        raise ValueError(f"{value[:60]!r} is not an IPv4 network") from None


def _ports(value: list[int]) -> list[int]:
    return sorted(set(value))


Port = Annotated[int, Field(ge=1, le=65535)]


class DiscoveredDevice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ip: Annotated[str, Field(max_length=64), AfterValidator(_ipv4)]
    mac: Annotated[str, Field(max_length=32), AfterValidator(normalize_mac)]
    vendor: Annotated[str, Field(max_length=256)] | None = None
    open_ports: Annotated[list[Port], Field(max_length=MAX_PORTS), AfterValidator(_ports)] = []


class Discovery(BaseModel):
    """What ``inventar-agent discover --send`` posts to ``/api/v1/discoveries``."""

    model_config = ConfigDict(extra="ignore")

    interface: Annotated[str, Field(max_length=64)] | None = None
    cidr: Annotated[str, Field(max_length=64), AfterValidator(_cidr)] | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    devices: Annotated[list[DiscoveredDevice], Field(max_length=MAX_DEVICES)]


@dataclass(frozen=True)
class StoredDiscovery:
    devices: int
    new: int
    site: str
    device_ids: tuple[int, ...] = ()  # to evaluate (collector.findings.devices)


def _vendor(mac: str, given: str | None) -> str | None:
    if given:
        return given.replace("\x00", "")[:256]
    from agent.oui import vendor  # noqa: PLC0415

    return vendor(mac)


def store_discovery(
    session: Session, agent: AgentIdentity, discovery: Discovery, *, retry: bool = True
) -> StoredDiscovery:
    """Upserts the discovered devices into the agent's organization and site."""
    now = utcnow()
    by_mac = {d.mac: d for d in discovery.devices}  # one entry per device
    conn = session.connection()
    site = conn.execute(sa.select(_SITES.c.name).where(_SITES.c.id == agent.site_id)).scalar_one()
    existing = (
        {
            row.mac: row.id
            for row in conn.execute(
                sa.select(_DEVICES.c.id, _DEVICES.c.mac).where(
                    _DEVICES.c.org_id == agent.org_id, _DEVICES.c.mac.in_(list(by_mac))
                )
            )
        }
        if by_mac
        else {}
    )
    new_rows: list[dict[str, Any]] = []
    for mac, d in by_mac.items():
        values = {
            "ip": d.ip,
            "vendor": _vendor(mac, d.vendor),
            "open_ports": d.open_ports,
            "site_id": agent.site_id,
            "last_seen": now,
            "seen_by": agent.id,
        }
        if mac in existing:
            conn.execute(sa.update(_DEVICES).where(_DEVICES.c.id == existing[mac]).values(**values))
        else:
            new_rows.append({"org_id": agent.org_id, "mac": mac, "first_seen": now, **values})
    try:
        if new_rows:
            conn.execute(sa.insert(_DEVICES), new_rows)
        ids = _ids(conn, agent.org_id, list(by_mac))
        session.commit()
    except IntegrityError:  # another agent's discovery added one of them meanwhile: once more
        session.rollback()
        if not retry:
            raise
        return store_discovery(session, agent, discovery, retry=False)
    return StoredDiscovery(len(by_mac), len(new_rows), site, tuple(ids))


def _ids(conn: sa.Connection, org_id: int, macs: list[str]) -> list[int]:
    out: list[int] = []
    for i in range(0, len(macs), 500):
        out.extend(
            conn.execute(
                sa.select(_DEVICES.c.id).where(
                    _DEVICES.c.org_id == org_id, _DEVICES.c.mac.in_(macs[i : i + 500])
                )
            ).scalars()
        )
    return out


def managed_expression() -> sa.ColumnElement[bool]:
    """True when the device's MAC is an interface of a reporting host of its organization."""
    mac = sa.func.lower(sa.func.replace(_IFACES.c.mac, "-", ":"))
    return (
        sa.exists()
        .where(
            _IFACES.c.host_id == _HOSTS.c.id,
            _HOSTS.c.org_id == _DEVICES.c.org_id,
            mac == _DEVICES.c.mac,
        )
        .correlate(_DEVICES)
    )


@dataclass(frozen=True)
class DeviceView:
    mac: str
    ip: str | None
    vendor: str | None
    open_ports: list[int]
    site: str
    managed: bool
    first_seen: dt.datetime
    last_seen: dt.datetime


def unmanaged_by_site(session: Session, org_id: int | None) -> dict[int, int]:
    """Unmanaged devices per site id: the totals of ``list_devices(site=…, managed=False)``."""
    query = sa.select(_DEVICES.c.site_id, sa.func.count()).where(~managed_expression())
    if org_id is not None:
        query = query.where(_DEVICES.c.org_id == org_id)
    rows = session.connection().execute(query.group_by(_DEVICES.c.site_id))
    return {int(site_id): int(n) for site_id, n in rows}


def list_devices(
    session: Session,
    *,
    org_id: int | None,
    site: str | None = None,
    managed: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    by_site: bool = False,
) -> tuple[list[DeviceView], int]:
    """Devices of ``org_id`` (None = all), filtered; in discovery order, or ``by_site`` by
    site name and address (the web UI's grouping)."""
    managed_col = managed_expression().label("managed")
    query = sa.select(
        _DEVICES.c.mac,
        _DEVICES.c.ip,
        _DEVICES.c.vendor,
        _DEVICES.c.open_ports,
        _SITES.c.name,
        managed_col,
        _DEVICES.c.first_seen,
        _DEVICES.c.last_seen,
    ).join(_SITES, _SITES.c.id == _DEVICES.c.site_id)
    if org_id is not None:
        query = query.where(_DEVICES.c.org_id == org_id)
    query = where_given(query, (_SITES.c.name, site))
    if managed is not None:
        query = query.where(managed_expression() if managed else ~managed_expression())
    order = (_SITES.c.name, _DEVICES.c.ip, _DEVICES.c.id) if by_site else (_DEVICES.c.id,)
    total, rows = page(session, query, *order, offset=offset, limit=limit)
    return [
        DeviceView(
            mac=r[0],
            ip=r[1],
            vendor=r[2],
            open_ports=list(r[3] or []),
            site=r[4],
            managed=bool(r[5]),
            first_seen=r[6],
            last_seen=r[7],
        )
        for r in rows
    ], int(total)


# Ports of clear-text or long-superseded services: on a device nobody manages, each is a
# finding an admin wants to see (BSI NET.1.2 / SYS.3.3: no unencrypted management access).
LEGACY_PORTS: dict[int, str] = {21: "ftp", 23: "telnet", 139: "netbios-ssn", 515: "lpd"}


def unmanaged_legacy_port_metric(db: Database) -> Iterator[Metric]:
    """``inventar_devices_unmanaged_legacy_port{site,service}``: unmanaged devices with a
    legacy service's port open (every site and service, also with 0)."""
    gauge = GaugeMetricFamily(
        "inventar_devices_unmanaged_legacy_port",
        "Unmanaged devices with the port of a legacy service open (ftp, telnet, netbios-ssn, "
        "lpd), by site and service.",
        labels=["site", "service"],
    )
    try:
        with db.engine.connect() as conn:
            sites = conn.execute(sa.select(_SITES.c.id, _SITES.c.name)).all()
            rows = conn.execute(
                sa.select(_DEVICES.c.site_id, _DEVICES.c.open_ports).where(~managed_expression())
            ).all()
    except sa.exc.SQLAlchemyError:
        log.exception("metrics: devices query failed")
        return
    counts = {(site_id, port): 0 for site_id, _ in sites for port in LEGACY_PORTS}
    for site_id, ports in rows:
        for port in set(ports or []) & LEGACY_PORTS.keys():
            counts[(site_id, port)] = counts.get((site_id, port), 0) + 1
    for site_id, name in sites:
        for port, service in LEGACY_PORTS.items():
            gauge.add_metric([name, service], float(counts[(site_id, port)]))
    yield gauge


def unmanaged_metric(db: Database) -> Iterator[Metric]:
    """``inventar_devices_unmanaged{site}``: devices seen on the network without a reporting
    host behind their MAC, per site (every site, also with 0)."""
    gauge = GaugeMetricFamily(
        "inventar_devices_unmanaged",
        "Devices found by network discovery whose MAC belongs to no reporting host, by site.",
        labels=["site"],
    )
    unmanaged = (
        sa.select(_DEVICES.c.site_id, sa.func.count().label("n"))
        .where(~managed_expression())
        .group_by(_DEVICES.c.site_id)
        .subquery()
    )
    query = sa.select(_SITES.c.name, unmanaged.c.n).outerjoin(
        unmanaged, unmanaged.c.site_id == _SITES.c.id
    )
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(query).all()
    except sa.exc.SQLAlchemyError:
        log.exception("metrics: devices query failed")
        return
    for name, n in rows:
        gauge.add_metric([name], float(n or 0))
    yield gauge
