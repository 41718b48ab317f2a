"""Hosts: list, details with the latest report and derived facts, report history."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from collector.api.deps import Principal, ReaderDep, SessionDep
from collector.models import Host, Organization, ReportRecord, Site
from collector.paging import page, where_given

router = APIRouter(prefix="/api/v1", tags=["hosts"])

NAME_PATTERN = r"^[^\x00-\x1f]*$"
HostId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]


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
    report: dict[str, Any] | None


class ReportItem(BaseModel):
    report_id: str
    collected_at: dt.datetime
    received_at: dt.datetime
    source: str
    size_bytes: int
    changed_sections: list[str]
    report: dict[str, Any] | None = None


class ReportPage(BaseModel):
    items: list[ReportItem]
    total: int
    limit: int
    offset: int


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


def _visible_host(session: Session, principal: Principal, host_id: int) -> tuple[Host, Site]:
    row = session.exec(
        select(Host, Site).join(Site, col(Site.id) == col(Host.site_id)).where(Host.id == host_id)
    ).first()
    # Another organization's host is "not found", not "forbidden": its existence is private.
    if row is None or (principal.org_id is not None and row[0].org_id != principal.org_id):
        raise HTTPException(404, "no such host")
    return row


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
    host, site = _visible_host(session, principal, host_id)
    org = session.get(Organization, host.org_id)
    report: dict[str, Any] | None = None
    if host.last_report_id:
        raw = session.exec(
            select(ReportRecord.raw).where(ReportRecord.report_id == host.last_report_id)
        ).first()
        report = json.loads(raw) if raw else None
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
        report=report,
    )


@router.get("/hosts/{host_id}/reports")
def get_host_reports(
    *,
    session: SessionDep,
    principal: ReaderDep,
    host_id: HostId,
    limit: Limit = 100,
    offset: Offset = 0,
    full: bool = False,
) -> ReportPage:
    """The host's report history in collection order (oldest first); ``full`` includes the
    reports themselves."""
    host, _site = _visible_host(session, principal, host_id)
    where = ReportRecord.host_id == host.id
    total = session.exec(select(func.count()).select_from(ReportRecord).where(where)).one()
    rows = session.exec(
        select(ReportRecord)
        .where(where)
        .order_by(col(ReportRecord.collected_at), col(ReportRecord.id))
        .offset(offset)
        .limit(limit)
    ).all()
    items = [
        ReportItem(
            report_id=r.report_id,
            collected_at=r.collected_at,
            received_at=r.received_at,
            source=r.source,
            size_bytes=r.size_bytes,
            changed_sections=r.changed_sections,
            report=json.loads(r.raw) if full else None,
        )
        for r in rows
    ]
    return ReportPage(items=items, total=total, limit=limit, offset=offset)
