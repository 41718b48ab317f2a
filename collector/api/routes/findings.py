"""Findings: policy results per host and check, filtered and paginated, organization-scoped."""

from __future__ import annotations

from fastapi import APIRouter

from collector.api.deps import ReaderDep, SessionDep, visible_host
from collector.api.params import CheckQuery, History, HostId, Limit, Offset, SiteQuery
from collector.policy.model import Category, Severity, Status
from collector.queries.findings import FindingPage, findings_page

router = APIRouter(prefix="/api/v1", tags=["findings"])


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
    return findings_page(
        session,
        principal.org_id,
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
    return findings_page(
        session,
        principal.org_id,
        host_id=host_id,
        category=category,
        severity=severity,
        status=status,
        check=check,
        history=history,
        limit=limit,
        offset=offset,
    )
