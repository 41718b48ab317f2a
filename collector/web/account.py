"""Logging in and out, and the language switch."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from typing import Annotated, Any

import pyotp
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from collector import audit
from collector.audit import Actor
from collector.db import Database
from collector.models import User
from collector.people import (
    clear_failures,
    end_session,
    locked_for,
    purge_sessions,
    purge_throttle,
    record_failure,
    session_person,
    sign_on,
    start_session,
    throttle_keys,
    verify_password,
)
from collector.services import ServiceError, get_org
from collector.sso import ldap
from collector.sso.mapping import Refused, map_groups
from collector.web.auth import (
    LOGIN_CSRF_COOKIE,
    check_csrf,
    clear_session_cookie,
    cookie_options,
    local_path,
    read_form,
    session_token,
    set_session_cookie,
)
from collector.web.i18n import LANG_COOKIE, LANGUAGES
from collector.web.render import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

NextQuery = Annotated[str | None, Query(alias="next", max_length=2000)]


def _login_page(
    request: Request,
    next_url: str,
    status: int = 200,
    *,
    error: str | None = None,
    retry_after: int = 0,
    username: str = "",
    reason: str = "",
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request, "login.html", None, status, next_url=next_url, login_csrf=token,
        error=error, retry_after=retry_after, username=username, reason=reason,
        oidc=request.app.state.settings.oidc_enabled,
        oidc_label=request.app.state.settings.oidc_label,
        ldap=request.app.state.settings.ldap_enabled,
    )  # fmt: skip
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_options(request))  # type: ignore[arg-type]
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/login")
def login_form(request: Request, next_url: NextQuery = None) -> Response:
    return _login_page(request, local_path(next_url))


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _totp_ok(session: Session, user: User, code: str) -> bool:
    """The code of the account's TOTP secret for now (or 30 s before or after), used once:
    a code seen at a login is worth nothing at the next."""
    assert user.totp_secret is not None
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(user.totp_secret)
    now = dt.datetime.now(dt.UTC)
    for offset in (0, -1, 1):
        step = totp.timecode(now) + offset
        if hmac.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            session.add(user)
            session.commit()
            return True
    return False


def _directory_user(
    session: Session, settings: Any, name: str, password: str, address: str | None
) -> tuple[str, User | None]:
    """A login through LDAP: ("ok", user) | ("wrong", None) | ("refused:REASON", None) |
    ("unavailable:REASON", None)."""
    try:
        found = ldap.authenticate(settings, name, password)
    except ldap.LdapUnavailable as exc:
        return f"unavailable:{exc}", None
    if found is None:
        return "wrong", None
    try:
        mapped = map_groups(found.groups, settings.ldap_role_map, settings.ldap_org_map)
        org_id = get_org(session, mapped.org).id if mapped.org else None
        user = sign_on(session, source="ldap", external_id=found.dn, name=found.username,
                       role=mapped.role, org_id=org_id, address=address)  # fmt: skip
    except Refused as exc:
        return f"refused:{exc.reason}", None
    except ServiceError as exc:
        return f"refused:{exc.message}", None
    return "ok", user


def _try_login(
    db: Database, settings: Any, form: dict[str, str], address: str | None
) -> tuple[str, int]:
    """("ok:TOKEN", 0) | ("locked", seconds) | ("wrong", lock seconds) | ("refused:WHY", 0)
    | ("unavailable:WHY", 0)."""
    name, password = form.get("username", "")[:256], form.get("password", "")
    keys = throttle_keys(name, address)
    with db.session() as session:
        wait = locked_for(session, keys)
        if wait:
            return "locked", wait
        user = session.exec(select(User).where(User.name == name.strip())).first()
        outcome = "wrong"
        if user is not None and user.source == "local":
            ok = verify_password(user, password) and not user.disabled
            if ok and user.totp_secret is not None:
                ok = _totp_ok(session, user, form.get("otp", ""))
            outcome = "ok" if ok else "wrong"
        elif settings.ldap_enabled and (user is None or user.source == "ldap"):
            outcome, user = _directory_user(session, settings, name, password, address)
        else:
            verify_password(None, password)  # the same time as a wrong password
        if outcome == "wrong" or user is None:
            if outcome.startswith(("refused:", "unavailable:")):
                return outcome, 0
            return "wrong", record_failure(session, keys)
        clear_failures(session, keys[0])
        purge_sessions(session)
        purge_throttle(session)
        token = start_session(session, user)
        audit.record(session, "login", user.name, actor=Actor.person(user.name, address),
                     org_id=user.org_id, source=user.source)  # fmt: skip
        session.commit()
        return "ok:" + token, 0


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, request.cookies.get(LOGIN_CSRF_COOKIE), form)
    next_url = local_path(form.get("next"))
    name = form.get("username", "")[:256]
    db: Database = request.app.state.db
    old = session_token(request)
    if old:
        with db.session() as session:
            end_session(session, old)
    outcome, seconds = await run_in_threadpool(
        _try_login, db, request.app.state.settings, form, _client_address(request)
    )
    if outcome == "locked" or (outcome == "wrong" and seconds):
        return _login_page(request, next_url, 429, error="locked", retry_after=seconds,
                           username=name)  # fmt: skip
    if outcome == "wrong":
        return _login_page(request, next_url, 401, error="wrong", username=name)
    if outcome.startswith("refused:"):
        return _login_page(request, next_url, 403, error="refused", username=name,
                           reason=outcome.removeprefix("refused:"))  # fmt: skip
    if outcome.startswith("unavailable:"):
        log.warning("LDAP login failed: %s", outcome.removeprefix("unavailable:"))
        response = _login_page(request, next_url, 503, error="unavailable", username=name)
        response.headers["Retry-After"] = "60"
        return response
    response = RedirectResponse(next_url, 303)
    set_session_cookie(response, request, outcome.removeprefix("ok:"))
    response.delete_cookie(LOGIN_CSRF_COOKIE, **cookie_options(request))  # type: ignore[arg-type]
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    token = session_token(request)
    db: Database = request.app.state.db
    response = RedirectResponse("/login?logged_out=1", 303)
    if token:
        with db.session() as session:
            person = session_person(session, token)
            if person is not None:  # an ended session has nothing left to protect
                check_csrf(request, person.csrf_token, form)
                end_session(session, token)
    clear_session_cookie(response, request)
    return response


@router.get("/lang")
def switch_language(
    request: Request,
    lang: Annotated[str, Query(max_length=2)],
    next_url: NextQuery = None,
) -> Response:
    """The language switch: a plain link (works without JavaScript), remembered a year."""
    response = RedirectResponse(local_path(next_url), 303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, **cookie_options(request))  # type: ignore[arg-type]
    return response
