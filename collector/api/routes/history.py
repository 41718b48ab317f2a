"""A host's history: the reports received, the state after one of them, the change log."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel

from agent.schema import SECTIONS
from collector import history
from collector.api.deps import ReaderDep, SessionDep, visible_host
from collector.api.params import HostId, Limit, Offset
from collector.changes import Change
from collector.current_state import stored_sections

router = APIRouter(prefix="/api/v1", tags=["hosts"])

ReportIdPath = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{32,36}$")]


class ReportItem(BaseModel):
    report_id: str
    collected_at: dt.datetime
    received_at: dt.datetime
    source: str
    # the sections whose lasting content the report changed (volatile fields aside)
    changed_sections: list[str]
    # the history holds every section of the host after this report (first or full report)
    snapshot: bool
    # the host after this report (``full=true``; GET .../reports/{report_id})
    report: dict[str, Any] | None = None


class ReportPage(BaseModel):
    items: list[ReportItem]
    total: int
    limit: int
    offset: int


class ChangeItem(BaseModel):
    id: int
    report_id: str
    collected_at: dt.datetime
    received_at: dt.datetime
    kind: str  # software.added, software.updated, display.attached, security.changed, ...
    section: str
    action: str  # added | removed | changed
    item: str | None
    field: str | None
    old: str | None
    new: str | None
    summary: str


class ChangePage(BaseModel):
    items: list[ChangeItem]
    total: int
    limit: int
    offset: int


def _item(report: history.ReceivedReport, state: dict[str, Any] | None = None) -> ReportItem:
    return ReportItem(
        report_id=report.report_id,
        collected_at=report.collected_at,
        received_at=report.received_at,
        source=report.source,
        changed_sections=report.changed_sections,
        snapshot=report.snapshot,
        report=state,
    )


def _rebuilder(session: SessionDep, host_id: int) -> history.Rebuilder:
    conn = session.connection()
    stored = stored_sections(conn, [host_id])[host_id]
    current = {name: json.loads(text) for name, text in stored.items()}
    return history.Rebuilder(conn, host_id, current)


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
    """The host's reports in collection order (oldest first): every report received in the
    last 45 days, and before that the reports that changed something (kept for
    INVENTAR_HISTORY_RETENTION_DAYS). ``full`` adds the host as it was after each."""
    host, _site = visible_host(session, principal, host_id)
    assert host.id is not None
    rebuilder = _rebuilder(session, host.id) if full else None
    rows = rebuilder.rows if rebuilder else None
    reports = history.received_reports(session.connection(), host.id, rows)
    chosen = reports[offset : offset + limit]
    items = [_item(r, rebuilder.state_after(r) if rebuilder else None) for r in chosen]
    return ReportPage(items=items, total=len(reports), limit=limit, offset=offset)


@router.get("/hosts/{host_id}/reports/{report_id}")
def get_host_report(
    session: SessionDep, principal: ReaderDep, host_id: HostId, report_id: ReportIdPath
) -> ReportItem:
    """The host as it was after one of its reports: each section as the history last
    recorded it (volatile values as last stored with a change)."""
    host, _site = visible_host(session, principal, host_id)
    assert host.id is not None
    rebuilder = _rebuilder(session, host.id)
    wanted = report_id.replace("-", "").lower()
    for report in history.received_reports(session.connection(), host.id, rebuilder.rows):
        if report.report_id.replace("-", "") == wanted:
            return _item(report, rebuilder.state_after(report))
    raise HTTPException(404, "no such report of this host (or older than the history keeps)")


@router.get("/hosts/{host_id}/changes")
def get_host_changes(
    *,
    session: SessionDep,
    principal: ReaderDep,
    host_id: HostId,
    section: Annotated[list[str] | None, Query(max_length=len(SECTIONS))] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ChangePage:
    """What changed on the host, newest first: software added, removed or updated, displays
    attached or removed, updates installed, security settings, OS, hardware; ``section``
    filters (repeatable)."""
    unknown = sorted(set(section or ()) - set(SECTIONS))
    if unknown:
        raise HTTPException(422, f"unknown section(s): {', '.join(unknown)[:200]}")
    host, _site = visible_host(session, principal, host_id)
    assert host.id is not None
    total, rows = history.host_changes(
        session.connection(), host.id, limit=limit, offset=offset, sections=section
    )
    items = []
    for r in rows:
        change = Change(r.section, r.action, r.item, r.field, r.old, r.new)
        items.append(
            ChangeItem(
                id=r.id,
                report_id=r.report_id,
                collected_at=r.collected_at,
                received_at=r.received_at,
                kind=history.change_kind(change),
                summary=history.change_summary(change),
                **change.row(),
            )
        )
    return ChangePage(items=items, total=total, limit=limit, offset=offset)
