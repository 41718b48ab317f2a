"""Known vulnerabilities: the fleet's, grouped by the update that fixes them (worst first),
and one host's; with each feed's age. Organization-scoped like every reader route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from collector.api.deps import ReaderDep, SessionDep, visible_host
from collector.api.params import NAME_PATTERN, HostId, Limit, Offset, SiteQuery
from collector.queries.vulns import FleetVulns, HostVulnList, fleet_vulns, host_vulns

router = APIRouter(prefix="/api/v1", tags=["vulnerabilities"])
PackageQuery = Annotated[str | None, Query(max_length=256, pattern=NAME_PATTERN)]


@router.get("/vulnerabilities")
def list_vulnerabilities(
    *,
    session: SessionDep,
    principal: ReaderDep,
    site: SiteQuery = None,
    kev: bool | None = None,
    package: PackageQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FleetVulns:
    """The fleet's vulnerabilities grouped by the one update that fixes them: exploited in
    the wild (KEV) first, then by EPSS and severity; ``kev=true`` only those in KEV."""
    return fleet_vulns(
        session.connection(),
        principal.org_id,
        site=site,
        kev=kev,
        package=package,
        limit=limit,
        offset=offset,
    )


@router.get("/hosts/{host_id}/vulnerabilities")
def list_host_vulnerabilities(
    *, session: SessionDep, principal: ReaderDep, host_id: HostId
) -> HostVulnList:
    """One host's vulnerabilities, worst first."""
    visible_host(session, principal, host_id)
    return host_vulns(session.connection(), host_id)
