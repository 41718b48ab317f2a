"""The pages: overview, hosts list (and its CSV export), host detail, findings, devices.

Thin routes: the data comes from collector.queries (the API's queries), scoped to the
person's organization exactly as an API token is (collector.api.deps.visible_host: another
organization's host is 404, as one that does not exist).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlmodel import col, select

from collector.api.deps import visible_host
from collector.api.params import HostId
from collector.audit import record_now
from collector.db import Database
from collector.discovery import LEGACY_PORTS, list_devices
from collector.exports import csv_chunks
from collector.models import Finding, Host, Site, WaiverRecord
from collector.people import Person
from collector.policy.model import CATEGORIES, SEVERITIES, Status
from collector.queries.findings import check_site_matrix, findings_page
from collector.queries.hosts import (
    EXPORT_COLUMNS,
    HostFilter,
    display_rows,
    export_rows,
    failing_counts,
    host_detail,
    list_page,
    pending_updates,
    report_history,
    software,
)
from collector.queries.overview import HOST_METRICS, overview
from collector.queries.vulns import host_vulns
from collector.web import checks
from collector.web.auth import PersonDep, ReaderDep, WebSessionDep, actor_of
from collector.web.filters import (
    CHASSIS,
    OS_FAMILIES,
    PAGE_SIZES,
    ROLES,
    BadParameter,
    HostsQuery,
    hosts_url,
    parse_hosts_query,
    query_url,
)
from collector.web.render import language, render

router = APIRouter(include_in_schema=False)

SOFTWARE_SHOWN = 200
VULNS_SHOWN = 100
REPORTS_SHOWN = 10
DEVICES_PER_PAGE = 200
MATRIX_STATUSES: tuple[Status, ...] = ("fail", "waived", "unknown")


def site_names(session: Any, org_id: int | None) -> list[Site]:
    """The sites a person sees (for the pages' site filters), by name."""
    query = select(Site).order_by(col(Site.name))
    if org_id is not None:
        query = query.where(Site.org_id == org_id)
    return list(session.exec(query))


@router.get("/")
def overview_page(request: Request, session: WebSessionDep, person: PersonDep) -> Response:
    if person.role == "dpo":  # no host counts: what is collected and who looked at it
        return RedirectResponse("/privacy", 303)
    orgs = overview(session, person.org_id)
    links: dict[tuple[int, str], str] = {}
    for org in orgs:
        for card in org.sites:
            for key, f in HOST_METRICS.items():
                links[(card.id, key)] = hosts_url(f.with_site(card.name))
            links[(card.id, "unmanaged")] = "/devices?" + _urlencode(
                [("site", card.name), ("managed", "false")]
            )
    return render(
        request, "overview.html", person, orgs=orgs, links=links,
        metrics=list(HOST_METRICS), may_list=person.role in ("admin", "viewer"),
    )  # fmt: skip


def _urlencode(pairs: list[tuple[str, str]]) -> str:
    return urlencode(pairs)


def _hosts_query(request: Request) -> HostsQuery:
    params = {k: v for k, v in request.query_params.items() if k != "severity"}
    return parse_hosts_query(params, request.query_params.getlist("severity"))


@router.get("/hosts")
def hosts_page(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    query = _hosts_query(request)
    total, rows = list_page(
        session, person.org_id, query.filter, sort=query.sort, descending=query.descending,
        offset=query.offset, limit=query.per_page,
    )  # fmt: skip
    failing = failing_counts(session, [h.id for h, _ in rows if h.id is not None])
    pages = max(1, -(-total // query.per_page))
    return render(
        request, "hosts.html", person, query=query, f=query.filter, total=total, rows=rows,
        failing=failing, pages=pages, sites=site_names(session, person.org_id),
        query_url=query_url, csv_url=query_url(query, "/hosts.csv", page=1),
        os_families=OS_FAMILIES, chassis=CHASSIS, roles=ROLES, severities=SEVERITIES,
        page_sizes=PAGE_SIZES, checks=_check_titles(request),
    )  # fmt: skip


def _check_titles(request: Request) -> list[tuple[str, str]]:
    packs = checks.policies(request)
    lang = language(request)
    return sorted(
        ((c.id, c.title.get(lang) or c.id) for c in packs.checks), key=lambda pair: pair[1]
    )


def _csv_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value


@router.get("/hosts.csv")
def hosts_export(request: Request, person: ReaderDep) -> Response:
    """Exactly the filtered list, every page, in the list's order, streamed as it is read."""
    query = _hosts_query(request)
    db: Database = request.app.state.db

    def chunks() -> Iterator[str]:
        with db.session() as session:
            rows = (
                [_csv_value(v) for v in row]
                for row in export_rows(
                    session, person.org_id, query.filter, query.sort, query.descending
                )
            )
            yield from csv_chunks(EXPORT_COLUMNS, rows)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    record_now(db, "export.hosts_csv", request.url.query or "all hosts",
               actor=actor_of(request, person), org_id=person.org_id)  # fmt: skip
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="hosts-{stamp}.csv"'},
    )


SoftwareQuery = Annotated[str | None, Query(max_length=200)]


@router.get("/hosts/{host_id}")
def host_page(
    request: Request,
    session: WebSessionDep,
    person: ReaderDep,
    host_id: HostId,
    sw: SoftwareQuery = None,
) -> Response:
    return render_host(request, session, person, host_id, sw)


def render_host(
    request: Request,
    session: Any,
    person: Person,
    host_id: int,
    sw: str | None = None,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    host, site = visible_host(session, person, host_id)
    detail = host_detail(session, host, site)
    packs = checks.policies(request)
    lang = language(request)
    current = findings_page(session, person.org_id, host_id=host_id, limit=500, offset=0)
    everything = findings_page(
        session, person.org_id, host_id=host_id, history=True, limit=500, offset=0
    )
    resolved = [f for f in everything.items if f.resolved_at is not None]
    waiver_ids = _waiver_ids(session, [f.id for f in current.items if f.status == "waived"])
    order = {s: i for i, s in enumerate(("fail", "waived", "unknown", "pass", "not-applicable"))}
    current_items = sorted(
        current.items,
        key=lambda f: (order.get(f.status, 9), SEVERITIES.index(f.severity)
                       if f.severity in SEVERITIES else 9, f.check),
    )  # fmt: skip
    texts = {f.check: checks.check_text(packs, f.check, lang) for f in everything.items}
    details = {f.id: checks.detail(packs, f.check, f.messages, lang) for f in everything.items}
    ergonomics = [f for f in current.items if f.check.startswith(("erg.display.", "erg.text."))]
    sw_total, sw_rows = software(session, host_id, sw, SOFTWARE_SHOWN)
    reports_total, reports = report_history(
        session, host_id, offset=0, limit=REPORTS_SHOWN, newest_first=True
    )
    return render(
        request, "host.html", person, status, host=detail, site=site,
        report=detail.report or {}, displays=display_rows(session, host_id),
        findings=current_items, resolved=resolved, texts=texts, details=details,
        waiver_ids=waiver_ids, ergonomics=ergonomics, pending=pending_updates(session, host_id),
        sw=sw or "", sw_total=sw_total, sw_rows=sw_rows, reports=reports,
        reports_total=reports_total, error=error, form=form or {},
        vulns=host_vulns(session.connection(), host_id), vulns_shown=VULNS_SHOWN,
        today=dt.datetime.now(dt.UTC).date(), saved=request.query_params.get("saved"),
        hosts_url=hosts_url, hosts_filter=lambda name: HostFilter(site=name),
    )  # fmt: skip


def _waiver_ids(session: Any, finding_ids: list[int]) -> dict[int, int]:
    if not finding_ids:
        return {}
    rows = session.exec(
        select(Finding.id, Finding.waiver_id).where(col(Finding.id).in_(finding_ids))
    )
    return {fid: wid for fid, wid in rows if wid is not None}


def _choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise BadParameter(name, f"one of {', '.join(choices)}")
    return value


@router.get("/findings")
def findings_overview(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    """The check x site matrix: how many hosts fail (or are waived, unknown) each check at
    each site, each number a link to exactly those hosts; and findings per site kind."""
    category = _choice(request, "category", CATEGORIES)
    severity = _choice(request, "severity", SEVERITIES)
    status = _choice(request, "status", MATRIX_STATUSES) or "fail"
    cells = check_site_matrix(
        session, person.org_id, status=status,  # type: ignore[arg-type]
        category=category, severity=severity,  # type: ignore[arg-type]
    )  # fmt: skip
    packs = checks.policies(request)
    lang = language(request)
    site_ids = sorted({c.site_id for c in cells})
    sites = [s for s in site_names(session, person.org_id) if s.id in site_ids]
    check_ids = sorted({c.check for c in cells})
    texts = {c: checks.check_text(packs, c, lang) for c in check_ids}

    def rank(check: str) -> tuple[int, str]:
        severity = texts[check].severity
        return (SEVERITIES.index(severity) if severity in SEVERITIES else 9, texts[check].title)

    check_ids.sort(key=rank)
    grid = {(c.check, c.site_id): c.hosts for c in cells}
    links = {
        (c.check, c.site_id): hosts_url(HostFilter(site=c.site, check=c.check, check_status=status))
        for c in cells
    }
    kinds: dict[str, int] = {}
    for c in cells:
        kinds[c.site_kind] = kinds.get(c.site_kind, 0) + c.hosts
    return render(
        request, "findings.html", person, category=category, severity=severity,
        status=status, statuses=MATRIX_STATUSES, categories=CATEGORIES, severities=SEVERITIES,
        sites=sites, check_ids=check_ids, texts=texts, grid=grid, links=links,
        kinds=sorted(kinds.items(), key=lambda kv: -kv[1]),
    )  # fmt: skip


@router.get("/devices")
def devices_page(request: Request, session: WebSessionDep, person: ReaderDep) -> Response:
    site = request.query_params.get("site") or None
    if site is not None and len(site) > 256:
        raise BadParameter("site", "at most 256 characters")
    managed_text = _choice(request, "managed", ("true", "false"))
    managed = None if managed_text is None else managed_text == "true"
    page_text = request.query_params.get("page") or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= 10**6:
        raise BadParameter("page", "a whole number from 1")
    page_no = int(page_text)
    devices, total = list_devices(
        session, org_id=person.org_id, site=site, managed=managed,
        limit=DEVICES_PER_PAGE, offset=(page_no - 1) * DEVICES_PER_PAGE, by_site=True,
    )  # fmt: skip
    groups: dict[str, list[Any]] = {}
    for device in devices:
        groups.setdefault(device.site, []).append(device)
    pages = max(1, -(-total // DEVICES_PER_PAGE))
    base = [(k, v) for k, v in (("site", site), ("managed", managed_text)) if v]
    page_urls = {
        n: "/devices" + (f"?{_urlencode([*base, ('page', str(n))] if n > 1 else base)}"
                         if base or n > 1 else "")
        for n in (page_no - 1, page_no + 1) if 1 <= n <= pages
    }  # fmt: skip
    return render(
        request, "devices.html", person, groups=groups, total=total, site=site,
        managed=managed_text, legacy=LEGACY_PORTS, sites=site_names(session, person.org_id),
        page_no=page_no, pages=pages, page_urls=page_urls,
    )  # fmt: skip


def waiver_org(session: Any, waiver: WaiverRecord) -> int | None:
    """The organization a waiver belongs to (through its host or its site)."""
    if waiver.host_id is not None:
        host = session.get(Host, waiver.host_id)
        return host.org_id if host else None
    site = session.get(Site, waiver.site_id)
    return site.org_id if site else None
