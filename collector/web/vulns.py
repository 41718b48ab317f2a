"""The fleet's known vulnerabilities (/vulnerabilities): worst first, grouped by the update
that fixes them, filtered by site, KEV and package; each feed's age, warned about after 7
days. The host page shows a host's own list (collector.web.pages)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from collector.queries.vulns import fleet_vulns
from collector.web.auth import ReaderDep, WebSessionDep
from collector.web.filters import BadParameter
from collector.web.pages import site_names
from collector.web.render import render

router = APIRouter(include_in_schema=False)
SHOWN = 200


@router.get("/vulnerabilities")
def vulnerabilities_page(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    site = request.query_params.get("site") or None
    package = request.query_params.get("package") or None
    for name, value in (("site", site), ("package", package)):
        if value is not None and (len(value) > 256 or any(ord(c) < 32 for c in value)):
            raise BadParameter(name, "at most 256 characters, no control characters")
    kev_text = request.query_params.get("kev") or None
    if kev_text not in (None, "true"):
        raise BadParameter("kev", "true or empty")
    fleet = fleet_vulns(session.connection(), person.org_id, site=site, package=package,
                        kev=True if kev_text else None, limit=SHOWN, offset=0)  # fmt: skip
    return render(
        request, "vulnerabilities.html", person, fleet=fleet, site=site, package=package or "",
        kev=kev_text, sites=site_names(session, person.org_id), shown=SHOWN,
    )  # fmt: skip
