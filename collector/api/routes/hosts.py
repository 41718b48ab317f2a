"""Hosts: list, details with the current state and derived facts (their history:
routes/history.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from collector.api.deps import ReaderDep, SessionDep, visible_host
from collector.api.params import NAME_PATTERN, HostId, Limit, Offset
from collector.queries.hosts import (
    HostDetail,
    HostFilter,
    HostItem,
    host_detail,
    item,
    list_page,
)

router = APIRouter(prefix="/api/v1", tags=["hosts"])


class HostPage(BaseModel):
    items: list[HostItem]
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
