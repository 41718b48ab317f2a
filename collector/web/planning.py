"""The planners' pages: the budget forecast with its what-if form and downloads, the
ergonomics of screen workplaces, and WLAN per site.

The budget is GET /api/v1/budget's forecast (collector.budget.build_forecast, the server's
lifecycle file, the person's organization), answered on the server from the form's values;
the downloads (CSV, XLSX, PNG) are rendered from the very forecast the page shows, aggregates
only (planners see no host details, as in the API). Every download is in the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from collector.audit import record_now
from collector.budget import MAX_YEAR, MAX_YEARS, MIN_YEAR, Forecast, build_forecast
from collector.budget.forecast import SITE_KINDS
from collector.budget.lifecycle import CATEGORIES, Lifecycle, LifecycleError, load_lifecycle
from collector.budget.render import render as render_budget
from collector.exports import csv_text
from collector.people import Person
from collector.policy.reference import MAX_YEARS as MAX_CYCLE
from collector.queries import ergonomics as erg
from collector.queries.hosts import HostFilter
from collector.queries.wlan import insecure_connections, wlan_by_site
from collector.services import ServiceError
from collector.web import checks
from collector.web.auth import ErgonomicsDep, PlannerDep, ReaderDep, WebSessionDep, actor_of
from collector.web.filters import BadParameter, hosts_url
from collector.web.pages import site_names
from collector.web.render import language, render

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
}


@dataclass(frozen=True)
class BudgetForm:
    from_year: int
    years: int
    site: str | None
    cycles: dict[str, int]  # the what-if cycles given (category -> years)

    def query(self, **extra: str) -> str:
        pairs = [("from_year", str(self.from_year)), ("years", str(self.years))]
        if self.site:
            pairs.append(("site", self.site))
        pairs += [(f"cycle_{c}", str(n)) for c, n in self.cycles.items()]
        return urlencode(pairs + list(extra.items()))


def _whole(params: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    text = (params.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadParameter(name, f"a whole number from {low} to {high}")
    return int(text)


def parse_budget_form(params: Mapping[str, str], shipped: Lifecycle, year: int) -> BudgetForm:
    site = (params.get("site") or "").strip() or None
    if site is not None and (len(site) > 256 or any(ord(c) < 32 for c in site)):
        raise BadParameter("site", "at most 256 characters, no control characters")
    cycles = {}
    for category in CATEGORIES:
        given = _whole(params, f"cycle_{category}", 1, MAX_CYCLE, 0)
        if given and given != shipped.categories[category].replacement_years:
            cycles[category] = given
    return BudgetForm(
        from_year=_whole(params, "from_year", MIN_YEAR, MAX_YEAR, year),
        years=_whole(params, "years", 1, MAX_YEARS, 5),
        site=site,
        cycles=cycles,
    )


def _lifecycle(request: Request) -> Lifecycle:
    try:
        return load_lifecycle(policies_dir=request.app.state.settings.policies_dir)
    except LifecycleError as exc:
        raise BadParameter(
            "lifecycle", f"the budget configuration does not load: {exc.message}"
        ) from None


def _forecast(
    request: Request, session: Any, person: Person
) -> tuple[BudgetForm, Forecast, Lifecycle]:
    shipped = _lifecycle(request)
    form = parse_budget_form(request.query_params, shipped, dt.datetime.now(dt.UTC).year)
    try:
        result = build_forecast(
            session, shipped, from_year=form.from_year, years=form.years, site=form.site,
            org_id=person.org_id, overrides=form.cycles,
        )  # fmt: skip
    except ServiceError as exc:  # another organization's site is as unknown as none
        raise BadParameter("site", exc.message) from None
    return form, result, shipped


@dataclass(frozen=True)
class Bar:
    year: int
    total: float
    # (site kind, cost, y, height) from the top of the stack down
    parts: list[tuple[str, float, float, float]]


CHART_HEIGHT = 220.0


def chart(result: Forecast) -> tuple[list[Bar], list[str]]:
    """Stacked bars per year by site kind, scaled to CHART_HEIGHT."""
    rows = result.rows()
    kinds = [k for k in SITE_KINDS if any(r["site_kind"] == k for r in rows)]
    cost = {(r["year"], r["site_kind"]): 0.0 for r in rows}
    for r in rows:
        cost[(r["year"], r["site_kind"])] += r["cost_eur"]
    totals = {y: sum(cost.get((y, k), 0.0) for k in kinds) for y in result.year_range}
    top = max(totals.values(), default=0.0) or 1.0
    bars = []
    for year in result.year_range:
        y = CHART_HEIGHT
        parts = []
        for kind in kinds:
            value = cost.get((year, kind), 0.0)
            height = CHART_HEIGHT * value / top
            y -= height
            parts.append((kind, value, round(y, 1), round(height, 1)))
        bars.append(Bar(year, round(totals[year], 2), parts))
    return bars, kinds


@router.get("/budget")
def budget_page(request: Request, session: WebSessionDep, person: PlannerDep) -> Response:
    form, result, shipped = _forecast(request, session, person)
    rows = result.rows()
    totals = result.totals(rows)
    bars, kinds = chart(result)
    effective = result.lifecycle
    return render(
        request, "budget.html", person, form=form, rows=rows, totals=totals, bars=bars,
        kinds=kinds, chart_height=CHART_HEIGHT, categories=CATEGORIES, shipped=shipped,
        effective=effective, sites=site_names(session, person.org_id),
        downloads={fmt: f"/budget.{fmt}?{form.query()}" for fmt in ("csv", "xlsx", "png")},
        max_years=MAX_YEARS, max_cycle=MAX_CYCLE, min_year=MIN_YEAR, max_year=MAX_YEAR,
    )  # fmt: skip


@router.get("/budget.{fmt}")
def budget_download(
    request: Request, session: WebSessionDep, person: PlannerDep, fmt: str
) -> Response:
    if fmt not in MEDIA_TYPES:
        raise BadParameter("format", "csv, xlsx or png")
    form, result, _shipped = _forecast(request, session, person)
    body = render_budget(result, fmt, devices=False)  # aggregates only, as in the API
    record_now(request.app.state.db, f"export.budget_{fmt}", form.query(),
               actor=actor_of(request, person), org_id=person.org_id)  # fmt: skip
    name = f"budget-{form.from_year}-{form.from_year + form.years - 1}.{fmt}"
    return Response(body, media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


def _ergonomics(request: Request, session: Any, person: Person) -> list[erg.Workplace]:
    site = (request.query_params.get("site") or "").strip() or None
    if site is not None and len(site) > 256:
        raise BadParameter("site", "at most 256 characters")
    year = dt.datetime.now(dt.UTC).year
    try:
        return erg.failing_workplaces(
            session, person.org_id, _lifecycle(request), year=year, site=site
        )
    except ServiceError as exc:
        raise BadParameter("site", exc.message) from None


@router.get("/ergonomics")
def ergonomics_page(request: Request, session: WebSessionDep, person: ErgonomicsDep) -> Response:
    """Workplaces failing an ergonomics check, per site, with the purchase that fixes it.
    Planners see the numbers per site and check and the costs, not the hosts."""
    places = _ergonomics(request, session, person)
    by_site: dict[str, list[erg.Workplace]] = {}
    for place in places:
        by_site.setdefault(place.site, []).append(place)
    counts: dict[str, dict[str, int]] = {}
    for place in places:
        for check in place.failing:
            per_site = counts.setdefault(place.site, {})
            per_site[check] = per_site.get(check, 0) + 1
    checks_seen = sorted({c for p in places for c in p.failing})
    site = request.query_params.get("site") or ""
    return render(
        request, "ergonomics.html", person, by_site=by_site, counts=counts,
        checks_seen=checks_seen, fixes=erg.FIXES, site=site,
        sites=site_names(session, person.org_id), hosts_visible=person.role != "planner",
        total=round(sum(p.cost_eur for p in places), 2), workplaces=len(places),
        csv_url="/ergonomics.csv" + (f"?{urlencode({'site': site})}" if site else ""),
        titles=_titles(request),
    )  # fmt: skip


def _titles(request: Request) -> dict[str, str]:
    lang = language(request)
    return {c.id: c.title.get(lang) or c.id for c in checks.policies(request).checks}


@router.get("/ergonomics.csv")
def ergonomics_export(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    places = _ergonomics(request, session, person)
    record_now(request.app.state.db, "export.ergonomics_csv", request.url.query or "all sites",
               actor=actor_of(request, person), org_id=person.org_id)  # fmt: skip
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    return Response(
        csv_text(erg.CSV_COLUMNS, erg.csv_rows(places)),
        media_type=MEDIA_TYPES["csv"],
        headers={"Content-Disposition": f'attachment; filename="ergonomics-{stamp}.csv"'},
    )


@router.get("/wlan")
def wlan_page(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    site = (request.query_params.get("site") or "").strip() or None
    if site is not None and len(site) > 256:
        raise BadParameter("site", "at most 256 characters")
    sites = wlan_by_site(session, person.org_id, site)
    insecure = insecure_connections(session, person.org_id, site)
    return render(
        request, "wlan.html", person, sites=sites, insecure=insecure, site=site or "",
        site_list=site_names(session, person.org_id),
        insecure_url=lambda name: hosts_url(HostFilter(site=name, insecure_wlan=True)),
    )  # fmt: skip
