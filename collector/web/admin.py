"""Administration without a shell: organizations and sites, enrollment secrets, agents,
people, API tokens, SSH targets and waivers.

Every form calls the same services as `inventar-collector` (collector.services,
collector.people, collector.ssh.targets, collector.findings.waivers), with the person as the
audit log's actor. A new secret, token or password is shown once, in the answer to the form
that made it (never in a URL, never stored in clear). The collector's administration is for
admins of every organization; an admin scoped to one organization manages the waivers of
that organization (/admin/waivers) and nothing else here.
"""

from __future__ import annotations

import datetime as dt
import secrets as random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from collector.findings.waivers import list_waivers
from collector.models import (
    PERSON_ROLES,
    ROLES,
    SITE_KINDS,
    Host,
    Site,
    SshTarget,
    User,
    table_of,
)
from collector.people import (
    add_user,
    disable_user,
    enable_user,
    list_users,
    set_password,
    set_role,
)
from collector.people import check_password_rules as _password_rules
from collector.services import (
    ServiceError,
    add_org,
    add_site,
    create_api_token,
    create_enroll_secret,
    credential_state,
    list_agents,
    list_api_tokens,
    list_enroll_secrets,
    list_orgs,
    list_sites,
    parse_expiry,
    revoke_agent,
    revoke_api_token,
    revoke_enroll_secret,
)
from collector.ssh.targets import ROLES as HOST_ROLES
from collector.ssh.targets import TargetSpec, add_target, list_targets, remove_target
from collector.web import checks
from collector.web.auth import (
    AdminDep,
    FleetAdminDep,
    WebSessionDep,
    actor_of,
    check_csrf,
    read_form,
)
from collector.web.render import language, render

router = APIRouter(include_in_schema=False, prefix="/admin")

T = TypeVar("T")
EXPIRING_DAYS = 14


async def _form(request: Request, csrf: str) -> dict[str, str]:
    form = await read_form(request)
    check_csrf(request, csrf, form)
    return form


async def _run(request: Request, work: Callable[[Session], T]) -> tuple[T | None, str | None]:
    """``work`` in a session of its own, in the thread pool; a ServiceError is the form's
    error message (the service's own words, in English)."""
    db = request.app.state.db

    def call() -> tuple[T | None, str | None]:
        try:
            with db.session() as session:
                return work(session), None
        except ServiceError as exc:
            return None, exc.message

    return await run_in_threadpool(call)


def _text(form: dict[str, str], name: str, limit: int = 256) -> str | None:
    value = form.get(name, "").strip()
    if len(value) > limit:
        raise ServiceError(f"{name}: at most {limit} characters")
    return value or None


def _expiry(form: dict[str, str]) -> dt.datetime | None:
    text = _text(form, "expires", 64)
    return parse_expiry(text) if text else None


# --- index ----------------------------------------------------------------------------------


@router.get("")
def index(request: Request, person: AdminDep) -> Response:
    return render(request, "admin/index.html", person, section="admin")


# --- organizations and sites ----------------------------------------------------------------


def _sites_page(request: Request, session: Session, person: Any, status: int = 200,
                *, error: str | None = None) -> Response:  # fmt: skip
    return render(
        request, "admin/sites.html", person, status, section="admin", orgs=list_orgs(session),
        sites=list_sites(session), kinds=SITE_KINDS, error=error,
        saved=request.query_params.get("saved"),
    )  # fmt: skip


@router.get("/sites")
def sites_page(request: Request, session: WebSessionDep, person: FleetAdminDep) -> Response:
    return _sites_page(request, session, person)


@router.post("/orgs")
async def orgs_add(request: Request, person: FleetAdminDep) -> Response:
    form = await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    _done, error = await _run(request, lambda s: add_org(s, form.get("name", ""), actor=actor))
    return await _after(request, person, error, "/admin/sites?saved=org", _sites_page)


@router.post("/sites")
async def sites_add(request: Request, person: FleetAdminDep) -> Response:
    form = await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    name, kind, org = form.get("name", ""), form.get("kind", ""), form.get("org") or None
    _done, error = await _run(request, lambda s: add_site(s, name, kind, org, actor=actor))
    return await _after(request, person, error, "/admin/sites?saved=site", _sites_page)


async def _after(
    request: Request,
    person: Any,
    error: str | None,
    target: str,
    page: Callable[..., Response],
) -> Response:
    """Back to the list (303) after a change, or the page again with the error (400)."""
    if error is None:
        return RedirectResponse(target, 303)
    db = request.app.state.db

    def again() -> Response:
        with db.session() as session:
            return page(request, session, person, 400, error=error)

    return await run_in_threadpool(again)


# --- enrollment secrets ---------------------------------------------------------------------


def _secrets_page(request: Request, session: Session, person: Any, status: int = 200,
                  *, error: str | None = None, shown: str | None = None) -> Response:  # fmt: skip
    rows = []
    for secret, site in list_enroll_secrets(session):
        state = credential_state(secret.revoked, secret.expires_at)
        if state == "active" and secret.max_uses is not None and secret.uses >= secret.max_uses:
            state = "used up"
        rows.append((secret, site, state))
    return render(
        request, "admin/secrets.html", person, status, section="admin", rows=rows,
        sites=list_sites(session), error=error, shown=shown,
        saved=request.query_params.get("saved"),
    )  # fmt: skip


@router.get("/secrets")
def secrets_page(request: Request, session: WebSessionDep, person: FleetAdminDep) -> Response:
    return _secrets_page(request, session, person)


@router.post("/secrets")
async def secrets_create(request: Request, person: FleetAdminDep) -> Response:
    form = await _form(request, person.csrf_token)
    actor = actor_of(request, person)

    def create(session: Session) -> str:
        uses = _text(form, "max_uses", 9)
        if uses is not None and not uses.isdigit():
            raise ServiceError("max uses: a whole number")
        return create_enroll_secret(
            session, form.get("site", ""), expires_at=_expiry(form),
            max_uses=int(uses) if uses else None,
            replace_agents=form.get("replace_agents") == "1", name=_text(form, "name"),
            actor=actor,
        )  # fmt: skip

    secret, error = await _run(request, create)
    return await _shown(request, person, _secrets_page, error, secret)


async def _shown(
    request: Request, person: Any, page: Callable[..., Response], error: str | None,
    shown: str | None,
) -> Response:  # fmt: skip
    """The page with a new secret shown once (200), or with the form's error (400)."""
    db = request.app.state.db

    def again() -> Response:
        with db.session() as session:
            if error is not None:
                return page(request, session, person, 400, error=error)
            return page(request, session, person, 200, shown=shown)

    return await run_in_threadpool(again)


@router.post("/secrets/{secret_id}/revoke")
async def secrets_revoke(request: Request, person: FleetAdminDep, secret_id: int) -> Response:
    await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    _done, error = await _run(request, lambda s: revoke_enroll_secret(s, secret_id, actor=actor))
    return await _after(request, person, error, "/admin/secrets?saved=revoked", _secrets_page)


# --- agents ---------------------------------------------------------------------------------


def _agents_page(request: Request, session: Session, person: Any, status: int = 200,
                 *, error: str | None = None) -> Response:  # fmt: skip
    hosts = table_of(Host)
    versions = dict(
        session.connection()
        .execute(
            sa.select(hosts.c.agent_id, hosts.c.agent_version).where(hosts.c.agent_id.is_not(None))
        )
        .all()
    )
    return render(
        request, "admin/agents.html", person, status, section="admin",
        rows=list_agents(session), versions=versions, error=error,
        saved=request.query_params.get("saved"),
    )  # fmt: skip


@router.get("/agents")
def agents_page(request: Request, session: WebSessionDep, person: FleetAdminDep) -> Response:
    return _agents_page(request, session, person)


@router.post("/agents/{agent_id}/revoke")
async def agents_revoke(request: Request, person: FleetAdminDep, agent_id: str) -> Response:
    await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    _done, error = await _run(request, lambda s: revoke_agent(s, agent_id[:36], actor=actor))
    return await _after(request, person, error, "/admin/agents?saved=revoked", _agents_page)


# --- people ---------------------------------------------------------------------------------


def _people_page(request: Request, session: Session, person: Any, status: int = 200,
                 *, error: str | None = None, shown: str | None = None) -> Response:  # fmt: skip
    return render(
        request, "admin/people.html", person, status, section="admin",
        rows=list_users(session), orgs=list_orgs(session), roles=PERSON_ROLES, error=error,
        shown=shown, shown_for=request.state.shown_for if shown else None,
        saved=request.query_params.get("saved"),
    )  # fmt: skip


@router.get("/people")
def people_page(request: Request, session: WebSessionDep, person: FleetAdminDep) -> Response:
    return _people_page(request, session, person)


def _user_name(session: Session, user_id: int) -> str:
    user = session.get(User, user_id)
    if user is None:
        raise ServiceError(f"unknown user {user_id}", 404)
    return user.name


@router.post("/people")
async def people_add(request: Request, person: FleetAdminDep) -> Response:
    form = await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    given = form.get("password", "")
    password = given or random.token_urlsafe(15)
    name = form.get("name", "")[:128]

    def add(session: Session) -> str:
        add_user(session, name, form.get("role", ""), password, form.get("org") or None,
                   actor=actor)  # fmt: skip
        return password

    shown, error = await _run(request, add)
    request.state.shown_for = name
    return await _shown(request, person, _people_page, error, None if given else shown)


@router.post("/people/{user_id}/role")
async def people_role(request: Request, person: FleetAdminDep, user_id: int) -> Response:
    form = await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    role, org = form.get("role", ""), form.get("org") or None
    _done, error = await _run(
        request, lambda s: set_role(s, _user_name(s, user_id), role, org, actor=actor)
    )
    return await _after(request, person, error, "/admin/people?saved=role", _people_page)


@router.post("/people/{user_id}/disable")
async def people_disable(request: Request, person: FleetAdminDep, user_id: int) -> Response:
    await _form(request, person.csrf_token)
    actor = actor_of(request, person)

    def disable(session: Session) -> None:
        if user_id == person.user_id:
            raise ServiceError("you cannot disable your own account")
        disable_user(session, _user_name(session, user_id), actor=actor)

    _done, error = await _run(request, disable)
    return await _after(request, person, error, "/admin/people?saved=disabled", _people_page)


@router.post("/people/{user_id}/enable")
async def people_enable(request: Request, person: FleetAdminDep, user_id: int) -> Response:
    await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    _done, error = await _run(request, lambda s: enable_user(s, _user_name(s, user_id),
                                                             actor=actor))  # fmt: skip
    return await _after(request, person, error, "/admin/people?saved=enabled", _people_page)


@router.post("/people/{user_id}/password")
async def people_password(request: Request, person: FleetAdminDep, user_id: int) -> Response:
    """Reset: a new random password, shown once; the person's sessions end."""
    await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    password = random.token_urlsafe(15)
    _password_rules(password)
    names: list[str] = []

    def reset(session: Session) -> str:
        name = _user_name(session, user_id)
        names.append(name)
        set_password(session, name, password, actor=actor)
        return password

    shown, error = await _run(request, reset)
    request.state.shown_for = names[0] if names else ""
    return await _shown(request, person, _people_page, error, shown)


# --- API tokens -----------------------------------------------------------------------------


def _tokens_page(request: Request, session: Session, person: Any, status: int = 200,
                 *, error: str | None = None, shown: str | None = None) -> Response:  # fmt: skip
    rows = [(t, org, credential_state(t.revoked, t.expires_at)) for t, org in
            list_api_tokens(session)]  # fmt: skip
    return render(
        request, "admin/tokens.html", person, status, section="admin", rows=rows,
        orgs=list_orgs(session), roles=ROLES, error=error, shown=shown,
        saved=request.query_params.get("saved"),
    )  # fmt: skip


@router.get("/tokens")
def tokens_page(request: Request, session: WebSessionDep, person: FleetAdminDep) -> Response:
    return _tokens_page(request, session, person)


@router.post("/tokens")
async def tokens_create(request: Request, person: FleetAdminDep) -> Response:
    form = await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    token, error = await _run(request, lambda s: create_api_token(
        s, form.get("role", ""), _text(form, "name"), form.get("org") or None,
        expires_at=_expiry(form), actor=actor))  # fmt: skip
    return await _shown(request, person, _tokens_page, error, token)


@router.post("/tokens/{token_id}/revoke")
async def tokens_revoke(request: Request, person: FleetAdminDep, token_id: int) -> Response:
    await _form(request, person.csrf_token)
    actor = actor_of(request, person)
    _done, error = await _run(request, lambda s: revoke_api_token(s, token_id, actor=actor))
    return await _after(request, person, error, "/admin/tokens?saved=revoked", _tokens_page)


# --- SSH targets ----------------------------------------------------------------------------


def _ssh_page(request: Request, session: Session, person: Any, status: int = 200,
              *, error: str | None = None,
              confirm: dict[str, str] | None = None) -> Response:  # fmt: skip
    return render(
        request, "admin/ssh.html", person, status, section="admin", rows=list_targets(session),
        sites=list_sites(session), roles=HOST_ROLES, error=error, confirm=confirm,
        saved=request.query_params.get("saved"),
    )  # fmt: skip


@router.get("/ssh")
def ssh_page(request: Request, session: WebSessionDep, person: FleetAdminDep) -> Response:
    return _ssh_page(request, session, person)


SSH_FIELDS = ("host", "port", "user", "auth", "secret", "site", "role", "sudo")


def _spec(form: dict[str, str]) -> TargetSpec:
    port_text = form.get("port", "").strip() or "22"
    if not port_text.isdigit():
        raise ServiceError("port: a whole number")
    auth, value = form.get("auth", ""), (form.get("secret") or "").strip()
    if not value:
        raise ServiceError("give the key file, the variable or the password file")
    return TargetSpec(
        host=form.get("host", "").strip(), port=int(port_text), user=form.get("user", "").strip(),
        site=form.get("site", ""),
        key_file=Path(value) if auth == "key" else None,
        password_env=value if auth == "env" else None,
        password_file=Path(value) if auth == "file" else None,
        role=form.get("role") or None, sudo=form.get("sudo") == "1",
    )  # fmt: skip


@router.post("/ssh/check")
async def ssh_check(request: Request, person: FleetAdminDep) -> Response:
    """Step 1: the host's key, fetched now and shown for confirmation (nothing is stored)."""
    form = await _form(request, person.csrf_token)
    from collector.ssh.session import SshError, known_key, server_key  # noqa: PLC0415
    from collector.ssh.session import fingerprint as fingerprint_of  # noqa: PLC0415
    from collector.ssh.settings import SshSettings  # noqa: PLC0415

    settings = SshSettings()

    def check() -> tuple[dict[str, str] | None, str | None]:
        try:
            spec = _spec(form)
            key = server_key(spec.host, spec.port, settings.connect_timeout)
        except ServiceError as exc:
            return None, exc.message
        except SshError as exc:
            return None, exc.message
        confirm = {k: form.get(k, "") for k in SSH_FIELDS}
        confirm["fingerprint"] = fingerprint_of(key)
        confirm["key_type"] = key.get_name()
        confirm["known"] = "1" if known_key(spec.host, spec.port, settings.known_hosts) else ""
        return confirm, None

    confirm, error = await run_in_threadpool(check)
    db = request.app.state.db

    def page() -> Response:
        with db.session() as session:
            if error is not None:
                return _ssh_page(request, session, person, 400, error=error)
            return _ssh_page(request, session, person, 200, confirm=confirm)

    return await run_in_threadpool(page)


@router.post("/ssh")
async def ssh_add(request: Request, person: FleetAdminDep) -> Response:
    """Step 2: the admin confirmed the fingerprint; the key is recorded in known_hosts only
    if the host still offers it, then the target is added."""
    form = await _form(request, person.csrf_token)
    from collector.ssh.session import SshError, trust_confirmed  # noqa: PLC0415
    from collector.ssh.settings import SshSettings  # noqa: PLC0415

    settings = SshSettings()
    actor = actor_of(request, person)

    def add(session: Session) -> None:
        spec = _spec(form)
        confirmed = form.get("fingerprint", "")
        if not confirmed.startswith("SHA256:"):
            raise ServiceError("confirm the host key's fingerprint first")
        try:
            trust_confirmed(spec.host, spec.port, settings.known_hosts, confirmed,
                            settings.connect_timeout)  # fmt: skip
        except SshError as exc:
            raise ServiceError(exc.message) from None
        add_target(session, spec, actor=actor)

    _done, error = await _run(request, add)
    return await _after(request, person, error, "/admin/ssh?saved=added", _ssh_page)


@router.post("/ssh/{target_id}/remove")
async def ssh_remove(request: Request, person: FleetAdminDep, target_id: int) -> Response:
    await _form(request, person.csrf_token)
    actor = actor_of(request, person)

    def remove(session: Session) -> None:
        target = session.get(SshTarget, target_id)
        if target is None:
            raise ServiceError(f"no SSH target {target_id}", 404)
        remove_target(session, target.host, target.port, actor=actor)

    _done, error = await _run(request, remove)
    return await _after(request, person, error, "/admin/ssh?saved=removed", _ssh_page)


# --- waivers --------------------------------------------------------------------------------


@router.get("/waivers")
def waivers_page(request: Request, session: WebSessionDep, person: AdminDep) -> Response:
    """Every waiver the admin's organization has, those ending within 14 days first."""
    today = dt.datetime.now(dt.UTC).date()
    query = select(Site.name)
    if person.org_id is not None:
        query = query.where(col(Site.org_id) == person.org_id)
    visible = set(session.exec(query))
    rows = [w for w in list_waivers(session, today) if w.site in visible]
    soon = today + dt.timedelta(days=EXPIRING_DAYS)
    rows.sort(key=lambda w: (not (not w.expired and w.until <= soon), w.until, w.check))
    lang = language(request)
    titles = {c.id: c.title.get(lang) or c.id for c in checks.policies(request).checks}
    titles |= {c.id: c.title.get(lang) or c.id for c in checks.policies(request).device_checks}
    return render(
        request, "admin/waivers.html", person, section="admin", rows=rows, soon=soon,
        today=today, titles=titles,
    )  # fmt: skip
