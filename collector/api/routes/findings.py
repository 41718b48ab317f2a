"""Findings: policy results per host and check, filtered and paginated, organization-scoped."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import Session, col, select

from collector.api.deps import Principal, ReaderDep, SessionDep, visible_host
from collector.api.params import CheckQuery, History, HostId, Limit, Offset, SiteQuery
from collector.models import Finding, Host, Site
from collector.paging import page, where_given
from collector.policy.model import Category, Severity, Status

router = APIRouter(prefix="/api/v1", tags=["findings"])


class FindingItem(BaseModel):
    id: int
    host_id: int
    hostname: str | None
    site: str
    check: str
    status: str
    severity: str
    category: str
    message: str
    # The message in every language the packs give ("de", "en").
    messages: dict[str, str]
    first_seen: dt.datetime
    last_seen: dt.datetime
    resolved_at: dt.datetime | None
    waiver_reason: str | None
    waiver_until: dt.date | None


class FindingPage(BaseModel):
    items: list[FindingItem]
    total: int
    limit: int
    offset: int


def _page(
    session: Session,
    principal: Principal,
    *,
    host_id: int | None = None,
    site: str | None = None,
    category: Category | None = None,
    severity: Severity | None = None,
    status: Status | None = None,
    check: str | None = None,
    history: bool = False,
    limit: int,
    offset: int,
) -> FindingPage:
    query: Any = (
        select(Finding, Host.hostname, Site.name)
        .join(Host, col(Host.id) == col(Finding.host_id))
        .join(Site, col(Site.id) == col(Host.site_id))
    )
    if principal.org_id is not None:
        query = query.where(Host.org_id == principal.org_id)
    if host_id is not None:
        query = query.where(Finding.host_id == host_id)
    if not history:
        query = query.where(col(Finding.resolved_at).is_(None))
    query = where_given(
        query,
        (Site.name, site),
        (Finding.category, category),
        (Finding.severity, severity),
        (Finding.status, status),
        (Finding.check_id, check),
    )
    order = (col(Finding.host_id), col(Finding.check_id), col(Finding.id))
    total, rows = page(session, query, *order, offset=offset, limit=limit)
    items = []
    for finding, hostname, site_name in rows:
        assert finding.id is not None
        items.append(
            FindingItem(
                id=finding.id,
                host_id=finding.host_id,
                hostname=hostname,
                site=site_name,
                check=finding.check_id,
                status=finding.status,
                severity=finding.severity,
                category=finding.category,
                message=finding.message,
                messages={"en": finding.message}
                | ({"de": finding.message_de} if finding.message_de else {}),
                first_seen=finding.first_seen,
                last_seen=finding.last_seen,
                resolved_at=finding.resolved_at,
                waiver_reason=finding.waiver_reason,
                waiver_until=finding.waiver_until,
            )
        )
    return FindingPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/findings")
def list_findings(
    *,
    session: SessionDep,
    principal: ReaderDep,
    site: SiteQuery = None,
    category: Category | None = None,
    severity: Severity | None = None,
    status: Status | None = None,
    check: CheckQuery = None,
    history: History = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FindingPage:
    """Current findings (``history=true``: also resolved ones) of the token's organization(s),
    filtered by site name, category, severity, status and check id."""
    return _page(
        session,
        principal,
        site=site,
        category=category,
        severity=severity,
        status=status,
        check=check,
        history=history,
        limit=limit,
        offset=offset,
    )


@router.get("/hosts/{host_id}/findings")
def host_findings(
    *,
    session: SessionDep,
    principal: ReaderDep,
    host_id: HostId,
    category: Category | None = None,
    severity: Severity | None = None,
    status: Status | None = None,
    check: CheckQuery = None,
    history: History = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FindingPage:
    """One host's findings (``history=true``: with resolved ones)."""
    visible_host(session, principal, host_id)
    return _page(
        session,
        principal,
        host_id=host_id,
        category=category,
        severity=severity,
        status=status,
        check=check,
        history=history,
        limit=limit,
        offset=offset,
    )
