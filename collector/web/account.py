"""Logging in and out, and the language switch."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import select

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
    start_session,
    throttle_keys,
    verify_password,
)
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

NextQuery = Annotated[str | None, Query(alias="next", max_length=2000)]


def _login_page(
    request: Request,
    next_url: str,
    status: int = 200,
    *,
    error: str | None = None,
    retry_after: int = 0,
    username: str = "",
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request, "login.html", None, status, next_url=next_url, login_csrf=token,
        error=error, retry_after=retry_after, username=username,
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


def _try_login(db: Database, name: str, password: str, address: str | None) -> tuple[str, int]:
    """("ok", session token as text) | ("locked", seconds) | ("wrong", lock seconds)."""
    keys = throttle_keys(name, address)
    with db.session() as session:
        wait = locked_for(session, keys)
        if wait:
            return "locked", wait
        user = session.exec(select(User).where(User.name == name.strip())).first()
        ok = verify_password(user, password) and user is not None and not user.disabled
        if not ok:
            return "wrong", record_failure(session, keys)
        assert user is not None
        clear_failures(session, keys[0])
        purge_sessions(session)
        purge_throttle(session)
        return "ok:" + start_session(session, user), 0


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, request.cookies.get(LOGIN_CSRF_COOKIE), form)
    next_url = local_path(form.get("next"))
    name, password = form.get("username", "")[:256], form.get("password", "")
    db: Database = request.app.state.db
    old = session_token(request)
    if old:
        with db.session() as session:
            end_session(session, old)
    outcome, seconds = await run_in_threadpool(
        _try_login, db, name, password, _client_address(request)
    )
    if outcome == "locked":
        return _login_page(request, next_url, 429, error="locked", retry_after=seconds,
                           username=name)  # fmt: skip
    if outcome == "wrong":
        if seconds:
            return _login_page(request, next_url, 429, error="locked", retry_after=seconds,
                               username=name)  # fmt: skip
        return _login_page(request, next_url, 401, error="wrong", username=name)
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
