"""GET /api/v1/budget: the replacement budget forecast, for planners (and admins).

Aggregates only - counts and costs per year, site and category - never host names, serials
or a device list: the planner role sees no host details. The token's organization scopes
the sites; another organization's site is "unknown", as one that does not exist.
The lifecycle file is the server's (policies/data/lifecycle.yaml); a request can change
replacement cycles (what-if) but names no file.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from collector import audit
from collector.api.deps import Principal, SessionDep, SettingsDep, require
from collector.budget import MAX_YEAR, MAX_YEARS, MIN_YEAR, build_forecast
from collector.budget.lifecycle import LifecycleError, load_lifecycle, parse_overrides
from collector.budget.render import render
from collector.services import ServiceError

router = APIRouter(prefix="/api/v1", tags=["budget"])

PlannerDep = Annotated[Principal, require("admin", "planner")]
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
}


@router.get("/budget", response_model=None)
def get_budget(
    *,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PlannerDep,
    from_year: Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR)] = None,
    years: Annotated[int, Query(ge=1, le=MAX_YEARS)] = 5,
    site: Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00-\x1f]*$")] = None,
    replace_after: Annotated[
        list[str] | None,
        Query(max_length=4, description="what-if cycle CATEGORY=YEARS, e.g. desktop=6"),
    ] = None,
    format: Literal["json", "csv", "xlsx", "png"] = "json",
) -> Response:
    """Devices due per year, site and category with their cost (aggregates only).

    JSON: ``{"rows": [{year, site, site_kind, category, reason, count, unit_price_eur,
    cost_eur, age_sources}], "totals": {...}, "parameters": {...}}``.
    """
    try:
        overrides = parse_overrides(item[:64] for item in replace_after or [])
    except LifecycleError as exc:
        raise HTTPException(422, exc.message.replace("--replace-after", "replace_after")) from None
    try:
        lifecycle = load_lifecycle(policies_dir=settings.policies_dir)
    except LifecycleError as exc:
        raise HTTPException(500, f"budget configuration does not load: {exc.message}") from None
    try:
        result = build_forecast(
            session,
            lifecycle,
            from_year=from_year,
            years=years,
            site=site,
            org_id=principal.org_id,
            overrides=overrides,
        )
    except ServiceError as exc:
        raise HTTPException(exc.status, exc.message) from None
    except LifecycleError as exc:
        raise HTTPException(422, exc.message) from None
    body = render(result, format, devices=False)  # planners see no host details
    headers = {}
    if format != "json":
        headers["Content-Disposition"] = f'attachment; filename="budget.{format}"'
        # A file leaves the collector: the audit log says who took which.
        address = request.client.host if request.client else None
        audit.record(session, f"export.budget_{format}", str(request.url.query) or "defaults",
                     actor=audit.Actor.token(principal.token_id, address),
                     org_id=principal.org_id)  # fmt: skip
        session.commit()
    return Response(body, media_type=MEDIA_TYPES[format], headers=headers)
