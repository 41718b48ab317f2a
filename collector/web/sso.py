"""Logging in through the town's identity provider (OpenID Connect), and the person's own
account page (one-time codes for local accounts).

/login/oidc sends the browser to the provider with state, nonce and a PKCE challenge; what
the callback needs to check them is kept in a short-lived HttpOnly cookie. /login/oidc/callback
exchanges the code, checks the ID token, maps the groups to a role and organization (a person
in no mapped group gets a page that says so, 403) and starts a session like a local login.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Annotated

import pyotp
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from collector import audit
from collector.audit import Actor
from collector.db import Database
from collector.people import get_user, set_totp, sign_on, start_session
from collector.services import ServiceError, get_org
from collector.sso import oidc
from collector.sso.mapping import Refused, map_groups
from collector.web.auth import (
    PersonDep,
    check_csrf,
    client_address,
    cookie_options,
    local_path,
    read_form,
    session_token,
    set_session_cookie,
)
from collector.web.i18n import N_, gettext_for
from collector.web.render import language, render

router = APIRouter(include_in_schema=False)

OIDC_COOKIE = "inventar_oidc"
OIDC_COOKIE_SECONDS = 600


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


def _refused(request: Request, kind: str, reason: str, status: int = 403) -> Response:
    response = render(request, "sso_refused.html", None, status, kind=kind, reason=reason)
    response.delete_cookie(OIDC_COOKIE, **cookie_options(request))  # type: ignore[arg-type]
    return response


@router.get("/login/oidc")
def oidc_start(
    request: Request, next_url: Annotated[str | None, Query(alias="next", max_length=2000)] = None
) -> Response:
    settings = request.app.state.settings
    if not settings.oidc_enabled:
        return _refused(request, "error", "single sign-on is not configured", 404)
    try:
        url, login = oidc.start(settings, _callback_url(request), local_path(next_url))
    except oidc.OidcError as exc:
        return _refused(request, "error", str(exc), 503)
    response = RedirectResponse(url, 303)
    response.set_cookie(
        OIDC_COOKIE,
        _pack([login.state, login.nonce, login.verifier, login.next_url]),
        max_age=OIDC_COOKIE_SECONDS,
        **cookie_options(request),  # type: ignore[arg-type]
    )
    return response


def _pack(values: list[str]) -> str:
    """A cookie value holds no quotes, commas or spaces: JSON, base64url-encoded."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def _pending(request: Request) -> oidc.Login | None:
    try:
        raw = base64.urlsafe_b64decode((request.cookies.get(OIDC_COOKIE) or "")[:4096])
        state, nonce, verifier, next_url = json.loads(raw)
        return oidc.Login(str(state), str(nonce), str(verifier), local_path(str(next_url)))
    except (ValueError, TypeError, binascii.Error):
        return None


@router.get("/login/oidc/callback", name="oidc_callback")
def oidc_callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    settings = request.app.state.settings
    login = _pending(request)
    if error:
        return _refused(request, "error", f"the provider answered: {error}")
    if login is None or not state or not secrets.compare_digest(state, login.state) or not code:
        return _refused(request, "error", "this login was not started here, or it took too "
                        "long; start it again", 400)  # fmt: skip
    try:
        who = oidc.finish(settings, _callback_url(request), login, code)
        mapped = map_groups(who.groups, settings.oidc_role_map, settings.oidc_org_map)
    except oidc.OidcError as exc:
        return _refused(request, "error", str(exc), 502)
    except Refused as exc:
        return _refused(request, "no-role", exc.reason)
    db: Database = request.app.state.db
    address = client_address(request)
    try:
        with db.session() as session:
            org_id = get_org(session, mapped.org).id if mapped.org else None
            user = sign_on(session, source="oidc", external_id=who.subject, name=who.username,
                           role=mapped.role, org_id=org_id, address=address)  # fmt: skip
            token = start_session(session, user, session_token(request))
            audit.record(session, "login", user.name, actor=Actor.person(user.name, address),
                         org_id=user.org_id, source="oidc")  # fmt: skip
            session.commit()
    except ServiceError as exc:
        return _refused(request, "no-role" if exc.status == 403 else "error", exc.message)
    response = RedirectResponse(login.next_url, 303)
    set_session_cookie(response, request, token)
    response.delete_cookie(OIDC_COOKIE, **cookie_options(request))  # type: ignore[arg-type]
    return response


# --- the person's own account -----------------------------------------------------------------


@router.get("/account")
def account_page(request: Request, person: PersonDep) -> Response:
    return render(request, "account.html", person, saved=request.query_params.get("saved"))


def _code_ok(secret: str, code: str) -> bool:
    code = code.strip().replace(" ", "")
    return code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


@router.post("/account/totp/start")
async def totp_start(request: Request, person: PersonDep) -> Response:
    check_csrf(request, person.csrf_token, await read_form(request))
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=person.name, issuer_name="Inventar")
    return render(request, "account.html", person, secret=secret, uri=uri)


@router.post("/account/totp/on")
async def totp_on(request: Request, person: PersonDep) -> Response:
    form = await read_form(request)
    check_csrf(request, person.csrf_token, form)
    secret = form.get("secret", "")[:64]
    try:
        valid = len(secret) >= 16 and _code_ok(secret, form.get("otp", ""))
    except (ValueError, TypeError):  # not base32
        valid = False
    if not valid:
        uri = pyotp.TOTP(secret).provisioning_uri(name=person.name, issuer_name="Inventar") \
            if len(secret) >= 16 else ""  # fmt: skip
        return render(request, "account.html", person, 400, secret=secret, uri=uri,
                      error=_wrong_code(request))  # fmt: skip
    db: Database = request.app.state.db
    with db.session() as session:
        set_totp(
            session, person.name, secret, actor=Actor.person(person.name, client_address(request))
        )
    return RedirectResponse("/account?saved=1", 303)


@router.post("/account/totp/off")
async def totp_off(request: Request, person: PersonDep) -> Response:
    form = await read_form(request)
    check_csrf(request, person.csrf_token, form)
    db: Database = request.app.state.db
    with db.session() as session:
        user = get_user(session, person.name)
        if user.totp_secret is None or not _code_ok(user.totp_secret, form.get("otp", "")):
            return render(request, "account.html", person, 400, error=_wrong_code(request))
        set_totp(session, person.name, None,
                 actor=Actor.person(person.name, client_address(request)))  # fmt: skip
    return RedirectResponse("/account?saved=1", 303)


WRONG_CODE = N_("The one-time code is wrong; try the next one.")


def _wrong_code(request: Request) -> str:
    return gettext_for(language(request))(WRONG_CODE)
