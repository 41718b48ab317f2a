"""Hosts: list, details with the current state and derived facts (their history:
routes/history.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import col, select

from collector.api.deps import ReaderDep, SessionDep, visible_host
from collector.api.params import NAME_PATTERN, HostId, Limit, Offset
from collector.current_state import current_reports
from collector.models import DisplayRow, Host, Organization, Site
from collector.paging import page, where_given
from collector.policy.facts import due_year
from collector.policy.reference import Lifecycle
from collector.reference_cache import current as current_reference

router = APIRouter(prefix="/api/v1", tags=["hosts"])


class OsOut(BaseModel):
    family: str | None
    name: str | None
    version: str | None


class HostItem(BaseModel):
    id: int
    hostname: str | None
    machine_id: str
    site: str
    site_kind: str
    os: OsOut
    last_seen: dt.datetime


class HostPage(BaseModel):
    items: list[HostItem]
    total: int
    limit: int
    offset: int


class DeviceLife(BaseModel):
    """When a device's life began and what that rests on (collector.policy.facts)."""

    category: str | None
    start_date: dt.date | None
    start_source: str | None  # purchase | bios (hosts); purchase | edid (monitors)
    due_year: int | None


class DisplayLife(DeviceLife):
    connector: str | None
    vendor_pnp: str | None
    model: str | None
    serial: str | None
    external: bool | None


class OsSupport(BaseModel):
    release: str | None
    end: dt.date | None
    source: str | None
    estimated: bool | None


class HostDetail(HostItem):
    org: str
    agent_id: str | None
    fqdn: str | None
    serial: str | None
    manufacturer: str | None
    model: str | None
    chassis: str | None
    role: str | None
    first_seen: dt.datetime
    last_collected_at: dt.datetime | None
    derived: dict[str, Any]
    lifecycle: DeviceLife
    displays: list[DisplayLife]
    os_support: OsSupport
    # The host's current state as a report: its reports merged (the collection's timings
    # aside), from the stored sections.
    report: dict[str, Any] | None


def _item(host: Host, site: Site) -> HostItem:
    assert host.id is not None
    return HostItem(
        id=host.id,
        hostname=host.hostname,
        machine_id=host.machine_id,
        site=site.name,
        site_kind=site.kind,
        os=OsOut(family=host.os_family, name=host.os_name, version=host.os_version),
        last_seen=host.last_seen,
    )


@router.get("/hosts")
def list_hosts(
    *,
    session: SessionDep,
    principal: ReaderDep,
    site: Annotated[str | None, Query(max_length=256, pattern=NAME_PATTERN)] = None,
    kind: Literal["school", "kindergarten", "town-hall", "other"] | None = None,
    os: Literal["linux", "windows", "darwin"] | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> HostPage:
    """Hosts of the token's organization(s), filtered by site name, site kind, OS family."""
    query = select(Host, Site).join(Site, col(Site.id) == col(Host.site_id))
    if principal.org_id is not None:
        query = query.where(Host.org_id == principal.org_id)
    query = where_given(query, (Site.name, site), (Site.kind, kind), (Host.os_family, os))
    total, rows = page(session, query, col(Host.id), offset=offset, limit=limit)
    return HostPage(items=[_item(h, s) for h, s in rows], total=total, limit=limit, offset=offset)


def derived_facts(report: dict[str, Any]) -> dict[str, Any]:
    """Facts computed from the latest report for display; None = unknown."""
    software = report.get("software")
    patches = report.get("patches") or {}
    wlan = report.get("wlan") or {}
    interfaces = wlan.get("interfaces")
    displays = report.get("displays")
    open_wlan = None
    if interfaces is not None:
        open_wlan = any(
            i.get("connected") and i.get("security") in ("open", "wep") for i in interfaces
        )
    return {
        "software_count": len(software) if software is not None else None,
        "pending_updates": patches.get("pending_count"),
        "pending_security_updates": patches.get("pending_security_count"),
        "reboot_required": patches.get("reboot_required"),
        "connected_to_open_wlan": open_wlan,
        "display_count": len(displays) if displays is not None else None,
        "collection_errors": len((report.get("collection") or {}).get("errors") or []),
    }


@router.get("/hosts/{host_id}")
def get_host(session: SessionDep, principal: ReaderDep, host_id: HostId) -> HostDetail:
    """One host: current state, the latest report as received, and derived facts."""
    host, site = visible_host(session, principal, host_id)
    org = session.get(Organization, host.org_id)
    assert host.id is not None
    report = current_reports(session.connection(), [host.id]).get(host.id)
    lifecycle = _shipped_lifecycle()
    displays = session.exec(
        select(DisplayRow).where(DisplayRow.host_id == host.id).order_by(col(DisplayRow.id))
    ).all()
    return HostDetail(
        **_item(host, site).model_dump(),
        org=org.name if org else "",
        agent_id=host.agent_id,
        fqdn=host.fqdn,
        serial=host.serial,
        manufacturer=host.manufacturer,
        model=host.model,
        chassis=host.chassis,
        role=host.role,
        first_seen=host.first_seen,
        last_collected_at=host.last_collected_at,
        derived=derived_facts(report) if report else {},
        lifecycle=DeviceLife(
            category=host.device_category,
            start_date=host.start_date,
            start_source=host.start_source,
            due_year=due_year(host.start_date, host.device_category, lifecycle)
            if lifecycle
            else None,
        ),
        displays=[
            DisplayLife(
                connector=d.connector,
                vendor_pnp=d.vendor_pnp,
                model=d.model,
                serial=d.serial,
                external=d.external,
                category="monitor" if d.external else None,
                start_date=d.start_date,
                start_source=d.start_source,
                due_year=due_year(d.start_date, "monitor", lifecycle)
                if lifecycle and d.external
                else None,
            )
            for d in displays
        ],
        os_support=OsSupport(
            release=host.os_support_release,
            end=host.os_support_end,
            source=host.os_support_source,
            estimated=host.os_support_estimated,
        ),
        report=report,
    )


def _shipped_lifecycle() -> Lifecycle | None:
    reference = current_reference()[1]
    return reference.lifecycle if reference else None
