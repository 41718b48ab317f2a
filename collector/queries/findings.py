"""Findings: the current findings (and their history) of an organization's hosts, filtered
and paged (the API and the web UI), and the check x site matrix of the findings page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from collector.models import Finding, Host, Site
from collector.paging import page, where_given
from collector.policy.model import Category, Severity, Status


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


def findings_page(
    session: Session,
    org_id: int | None,
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
    if org_id is not None:
        query = query.where(Host.org_id == org_id)
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


@dataclass(frozen=True)
class MatrixCell:
    check: str
    category: str
    severity: str
    site_id: int
    site: str
    site_kind: str
    hosts: int


def check_site_matrix(
    session: Session,
    org_id: int | None,
    *,
    status: Status = "fail",
    category: Category | None = None,
    severity: Severity | None = None,
) -> list[MatrixCell]:
    """For each check and site: how many hosts' current finding of the check has ``status``
    (the hosts list's filter ``check=...&check_status=...&site=...`` lists exactly them)."""
    query: Any = (
        sa.select(
            col(Finding.check_id), col(Finding.category), col(Finding.severity), col(Site.id),
            col(Site.name), col(Site.kind), func.count(func.distinct(col(Finding.host_id))),
        )
        .join(Host, col(Host.id) == col(Finding.host_id))
        .join(Site, col(Site.id) == col(Host.site_id))
        .where(col(Finding.resolved_at).is_(None), col(Finding.status) == status)
    )  # fmt: skip
    if org_id is not None:
        query = query.where(Host.org_id == org_id)
    query = where_given(query, (Finding.category, category), (Finding.severity, severity))
    query = query.group_by(
        col(Finding.check_id), col(Finding.category), col(Finding.severity), col(Site.id),
        col(Site.name), col(Site.kind),
    )  # fmt: skip
    return [MatrixCell(*row) for row in session.execute(query)]
