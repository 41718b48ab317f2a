"""Admins add and remove waivers from a host's finding (the CLI's waiver services, then the
covered hosts are evaluated at once, so the page shows the waived finding right away)."""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from collector.api.deps import visible_host
from collector.api.params import HostId
from collector.db import Database
from collector.findings.store import evaluate_hosts
from collector.findings.waivers import MAX_REASON, add_waiver, remove_waiver
from collector.models import WaiverRecord
from collector.services import ServiceError
from collector.web import checks
from collector.web.auth import AdminDep, BadForm, actor_of, check_csrf, read_form
from collector.web.i18n import N_
from collector.web.pages import render_host, waiver_org

router = APIRouter(include_in_schema=False)

MAX_WAIVER_DAYS = 3 * 366
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def parse_day(text: str) -> dt.date | None:
    """2027-03-31 or 31.03.2027 (as a German admin writes it); None if neither."""
    text = text.strip()
    try:
        if german := _GERMAN_DATE.match(text):
            return dt.date(int(german[3]), int(german[2]), int(german[1]))
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _problem(form: dict[str, str], today: dt.date) -> str | None:
    """What is wrong with a waiver form, as a message to translate (None: nothing)."""
    if not form.get("reason", "").strip():
        return N_("Say why the failure is accepted (reason).")
    if len(form["reason"]) > MAX_REASON:
        return N_("The reason is too long (at most 1000 characters).")
    day = parse_day(form.get("until", ""))
    if day is None:
        return N_("Give the last day as a date, e.g. 31.12.2027 or 2027-12-31.")
    if day < today:
        return N_("The last day must not be in the past.")
    if day > today + dt.timedelta(days=MAX_WAIVER_DAYS):
        return N_("A waiver holds at most three years; give an earlier last day.")
    if form.get("scope") not in ("host", "site"):
        return N_("Choose whether the waiver holds for this host or the whole site.")
    return None


def _evaluate(request: Request, host_ids: list[int]) -> None:
    db: Database = request.app.state.db
    evaluate_hosts(db, host_ids, checks.policies(request))


@router.post("/hosts/{host_id}/waivers")
async def add(request: Request, person: AdminDep, host_id: HostId) -> Response:
    form = await read_form(request)
    check_csrf(request, person.csrf_token, form)
    db: Database = request.app.state.db
    today = dt.datetime.now(dt.UTC).date()

    def store() -> tuple[str | None, list[int]]:
        with db.session() as session:
            host, site = visible_host(session, person, host_id)
            problem = _problem(form, today)
            if problem is not None:
                return problem, []
            try:
                _waiver, covered = add_waiver(
                    session,
                    check=form.get("check", "")[:128],
                    reason=form["reason"],
                    until=parse_day(form["until"]) or today,
                    policies=checks.policies(request),
                    host_id=host.id if form["scope"] == "host" else None,
                    site=site.name if form["scope"] == "site" else None,
                    today=today,
                    actor=actor_of(request, person),
                )
            except ServiceError as exc:
                return exc.message, []
            return None, covered

    problem, covered = await run_in_threadpool(store)
    if problem is not None:

        def page() -> Response:
            with db.session() as session:
                return render_host(
                    request, session, person, host_id, status=400, error=problem, form=form
                )

        return await run_in_threadpool(page)
    await run_in_threadpool(_evaluate, request, covered)
    anchor = "finding-" + re.sub(r"[^a-z0-9.\-]", "", form.get("check", ""))
    return RedirectResponse(f"/hosts/{host_id}?saved=waiver#{anchor}", 303)


@router.post("/waivers/{waiver_id}/delete")
async def remove(request: Request, person: AdminDep, waiver_id: HostId) -> Response:
    form = await read_form(request)
    check_csrf(request, person.csrf_token, form)
    back = form.get("host_id", "")
    db: Database = request.app.state.db

    def delete() -> list[int]:
        with db.session() as session:
            waiver = session.get(WaiverRecord, waiver_id)
            # Another organization's waiver is "not found", like its hosts.
            if waiver is None or (
                person.org_id is not None and waiver_org(session, waiver) != person.org_id
            ):
                raise BadForm("no such waiver", 404)
            return remove_waiver(session, waiver_id, actor=actor_of(request, person))

    covered = await run_in_threadpool(delete)
    await run_in_threadpool(_evaluate, request, covered)
    target = f"/hosts/{back}?saved=removed" if back.isdigit() else "/findings"
    if back == "admin":
        target = "/admin/waivers?saved=removed"
    return RedirectResponse(target, 303)
