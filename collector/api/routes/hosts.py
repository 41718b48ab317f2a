"""Hosts: list, details with the current state and derived facts, report history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from collector.api.deps import ReaderDep, SessionDep, visible_host
from collector.api.params import NAME_PATTERN, HostId, Limit, Offset
from collector.history import history_report
from collector.queries.hosts import (
    HostDetail,
    HostFilter,
    HostItem,
    host_detail,
    item,
    list_page,
    report_history,
)

router = APIRouter(prefix="/api/v1", tags=["hosts"])


class HostPage(BaseModel):
    items: list[HostItem]
    total: int
    limit: int
    offset: int


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
    wanted = HostFilter(site=site, kind=kind, os=os)
    total, rows = list_page(session, principal.org_id, wanted, offset=offset, limit=limit)
    return HostPage(items=[item(h, s) for h, s in rows], total=total, limit=limit, offset=offset)


@router.get("/hosts/{host_id}")
def get_host(session: SessionDep, principal: ReaderDep, host_id: HostId) -> HostDetail:
    """One host: current state, the latest report as received, and derived facts."""
    host, site = visible_host(session, principal, host_id)
    return host_detail(session, host, site)


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
    host, _site = visible_host(session, principal, host_id)
    assert host.id is not None
    total, rows = report_history(session, host.id, offset=offset, limit=limit, with_raw=full)
    items = [
        ReportItem(
            report_id=r.report_id,
            collected_at=r.collected_at,
            received_at=r.received_at,
            source=r.source,
            size_bytes=r.size_bytes,
            changed_sections=r.changed_sections,
            report=history_report(r.raw) if full and r.raw is not None else None,
        )
        for r in rows
    ]
    return ReportPage(items=items, total=total, limit=limit, offset=offset)
