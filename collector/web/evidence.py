"""Evidence for auditors and the data-protection officer: Grundschutz coverage (site x BSI
requirement, drill-down, CSV with the date and the packs' digest), the data-protection view,
the audit log, and the accessibility statement (Erklärung zur Barrierefreiheit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlmodel import select

from collector.audit import AuditFilter, entries, record_now
from collector.exports import csv_chunks, csv_text
from collector.findings.waivers import list_waivers
from collector.models import Site
from collector.queries import compliance as cov
from collector.queries.privacy import collected_fields, role_holders
from collector.web import checks
from collector.web.auth import (
    PrivacyDep,
    ReaderDep,
    WebSessionDep,
    actor_of,
    current_person_or_none,
)
from collector.web.filters import BadParameter
from collector.web.render import language, render
from collector.web.waivers import parse_day

router = APIRouter(include_in_schema=False)

AUDIT_PER_PAGE = 100


# --- Grundschutz coverage -------------------------------------------------------------------


def _site_links(result: cov.Coverage) -> dict[tuple[int, str, str], str]:
    """(site id, requirement, verdict) -> the drill-down listing exactly those hosts."""
    return {
        (site_id, req.id, verdict): "/compliance/detail?"
        + urlencode({"site": name, "ref": req.id, "verdict": verdict})
        for site_id, name, _kind in result.sites
        for req in result.requirements
        for verdict in cov.VERDICTS
    }


@router.get("/compliance")
def compliance_page(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    packs = checks.policies(request)
    result = cov.coverage(session, person.org_id, packs)
    sites = [s for s in result.sites if any(result.cell(s[0], r.id) for r in result.requirements)]
    bsi_checks = {c for r in result.requirements for c in r.checks}
    waivers = _waivers(session, person.org_id, bsi_checks)
    return render(
        request, "compliance.html", person, result=result, sites=sites,
        links=_site_links(result), verdicts=cov.VERDICTS, waivers=waivers,
        digest=packs.digest, titles=_titles(request),
    )  # fmt: skip


def _titles(request: Request) -> dict[str, str]:
    lang = language(request)
    return {c.id: c.title.get(lang) or c.id for c in checks.policies(request).checks}


def _waivers(session: Any, org_id: int | None, check_ids: set[str]) -> list[Any]:
    """Waivers of these checks that hold today, those ending first first."""
    today = dt.datetime.now(dt.UTC).date()
    sites = _visible_sites(session, org_id)
    return sorted(
        (w for w in list_waivers(session, today)
         if w.check in check_ids and not w.expired and w.site in sites),
        key=lambda w: (w.until, w.check),
    )  # fmt: skip


def _visible_sites(session: Any, org_id: int | None) -> set[str]:
    query = select(Site.name)
    if org_id is not None:
        query = query.where(Site.org_id == org_id)
    return set(session.exec(query))


@router.get("/compliance/detail")
def compliance_detail(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    packs = checks.policies(request)
    ref = request.query_params.get("ref") or ""
    site_name = request.query_params.get("site") or ""
    req = next((r for r in cov.requirements(packs) if r.id == ref), None)
    if req is None:
        raise BadParameter("ref", "a BSI requirement the checks cite")
    site = session.exec(select(Site).where(Site.name == site_name[:256])).first()
    if site is None or (person.org_id is not None and site.org_id != person.org_id):
        raise BadParameter("site", "a site you see")
    assert site.id is not None
    verdict = request.query_params.get("verdict") or None
    if verdict is not None and verdict not in cov.VERDICTS:
        raise BadParameter("verdict", ", ".join(cov.VERDICTS))
    hosts = [h for h in cov.drill_down(session, person.org_id, site.id, req)
             if verdict is None or h.verdict == verdict]  # fmt: skip
    return render(
        request, "compliance_detail.html", person, req=req, site=site, hosts=hosts,
        verdict=verdict,
        titles=_titles(request), today=dt.datetime.now(dt.UTC).date(),
    )  # fmt: skip


@router.get("/compliance.csv")
def compliance_export(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    packs = checks.policies(request)
    result = cov.coverage(session, person.org_id, packs)
    now = dt.datetime.now(dt.UTC)
    body = csv_text(cov.CSV_COLUMNS, cov.csv_rows(result, packs.digest, now))
    record_now(request.app.state.db, "export.compliance_csv", f"packs {packs.digest[:12]}",
               actor=actor_of(request, person), org_id=person.org_id)  # fmt: skip
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="grundschutz-{now:%Y%m%d}.csv"'},
    )


# --- data protection ------------------------------------------------------------------------


@router.get("/privacy")
def privacy_page(request: Request, session: WebSessionDep, person: PrivacyDep) -> Response:
    settings = request.app.state.settings
    return render(
        request, "privacy.html", person, sections=collected_fields(),
        holders=role_holders(session), audit_days=settings.audit_retention_days,
    )  # fmt: skip


# --- the audit log --------------------------------------------------------------------------


def _day(request: Request, name: str) -> dt.date | None:
    text = (request.query_params.get(name) or "").strip()
    if not text:
        return None
    day = parse_day(text[:20])
    if day is None:
        raise BadParameter(name, "a date, e.g. 31.12.2027 or 2027-12-31")
    return day


def _audit_filter(request: Request) -> AuditFilter:
    def text(name: str) -> str | None:
        value = (request.query_params.get(name) or "").strip()
        if len(value) > 200 or any(ord(c) < 32 for c in value):
            raise BadParameter(name, "at most 200 characters")
        return value or None

    return AuditFilter(
        actor=text("actor"), action=text("action"), since=_day(request, "since"),
        until=_day(request, "until"),
    )  # fmt: skip


@router.get("/audit")
def audit_page(request: Request, session: WebSessionDep, person: PrivacyDep) -> Response:
    f = _audit_filter(request)
    page_text = request.query_params.get("page") or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= 10**6:
        raise BadParameter("page", "a whole number from 1")
    page_no = int(page_text)
    total, rows = entries(session, person.org_id, f, offset=(page_no - 1) * AUDIT_PER_PAGE,
                          limit=AUDIT_PER_PAGE)  # fmt: skip
    base = [(k, v) for k, v in request.query_params.items() if k != "page" and v]
    pages = max(1, -(-total // AUDIT_PER_PAGE))
    page_urls = {n: "/audit?" + urlencode([*base, ("page", str(n))])
                 for n in (page_no - 1, page_no + 1) if 1 <= n <= pages}  # fmt: skip
    return render(
        request, "audit.html", person, f=f, rows=rows, total=total, page_no=page_no,
        pages=pages, page_urls=page_urls, csv_url="/audit.csv?" + urlencode(base),
        retention=request.app.state.settings.audit_retention_days,
    )  # fmt: skip


AUDIT_COLUMNS = ("at", "actor", "address", "action", "target", "organization", "details")


@router.get("/audit.csv")
def audit_export(request: Request, person: PrivacyDep) -> Response:
    f = _audit_filter(request)
    db = request.app.state.db
    record_now(db, "export.audit_csv", request.url.query or "all entries",
               actor=actor_of(request, person), org_id=person.org_id)  # fmt: skip

    def chunks() -> Iterator[str]:
        with db.session() as session:
            _total, rows = entries(session, person.org_id, f, offset=0, limit=1_000_000)
            yield from csv_chunks(
                AUDIT_COLUMNS,
                ([e.at.isoformat(), e.actor, e.address, e.action, e.target, org,
                  "; ".join(f"{k}={v}" for k, v in e.details.items())] for e, org in rows),
            )  # fmt: skip

    return StreamingResponse(
        chunks(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )  # fmt: skip


# --- accessibility statement ----------------------------------------------------------------


@router.get("/barrierefreiheit")
def accessibility_statement(request: Request) -> Response:
    """The operator's Erklärung zur Barrierefreiheit (BITV 2.0 § 7): open without a login,
    linked from every page ("report a barrier")."""
    settings = request.app.state.settings
    return render(
        request, "accessibility.html", current_person_or_none(request), section="a11y",
        contact=settings.accessibility_contact, operator=settings.accessibility_operator,
    )  # fmt: skip
