"""Sites (schools, kindergartens, the town hall) with their host counts."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from collector.api.deps import AnyRoleDep, SessionDep
from collector.services import list_sites

router = APIRouter(prefix="/api/v1", tags=["sites"])


class SiteOut(BaseModel):
    id: int
    name: str
    kind: str
    org: str
    hosts: int


@router.get("/sites")
def get_sites(session: SessionDep, principal: AnyRoleDep) -> list[SiteOut]:
    """The sites this token may see (its organization, or all for an unscoped token)."""
    return [SiteOut(**vars(s)) for s in list_sites(session, principal.org_id)]
