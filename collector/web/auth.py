"""Who is looking at a page: the session cookie, the CSRF check of every form, the roles.

The cookie is HttpOnly and SameSite=Lax; under TLS (the request's scheme is https, also as a
trusted proxy's X-Forwarded-Proto makes it) it is also Secure and named with the
``__Host-`` prefix, which browsers accept only from a secure origin, for the whole host and
path ``/``. Every POST carries the session's CSRF token in the form, and its Origin (or,
without one, its Referer) must be this site.
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from collector.api.deps import get_db
from collector.audit import Actor
from collector.db import Database
from collector.people import ABSOLUTE_TIMEOUT, Person, session_person

COOKIE = "inventar_session"
SECURE_COOKIE = "__Host-" + COOKIE
# The login form's own CSRF token (no session exists yet): a double-submit cookie.
LOGIN_CSRF_COOKIE = "inventar_login_csrf"
MAX_FORM_BYTES = 16 * 1024
READERS = ("admin", "viewer")


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class Forbidden(Exception):
    """The person's role may not do this (403)."""


class BadForm(Exception):
    """A form that cannot be read (400) or whose CSRF token or origin is wrong (403)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def session_cookie_name(request: Request) -> str:
    return SECURE_COOKIE if is_tls(request) else COOKIE


def cookie_options(request: Request) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": is_tls(request),
        "path": "/",
    }


def set_session_cookie(response: object, request: Request, token: str) -> None:
    response.set_cookie(  # type: ignore[attr-defined]
        session_cookie_name(request),
        token,
        max_age=int(ABSOLUTE_TIMEOUT.total_seconds()),
        **cookie_options(request),
    )


def clear_session_cookie(response: object, request: Request) -> None:
    response.delete_cookie(session_cookie_name(request), **cookie_options(request))  # type: ignore[attr-defined]


def session_token(request: Request) -> str | None:
    return request.cookies.get(session_cookie_name(request))


def local_path(url: str | None, default: str = "/") -> str:
    """``url`` if it is a path on this site (no scheme, no host, no ``//``), else ``default``:
    a redirect after login or a language switch never leaves the collector."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    parts = urllib.parse.urlsplit(url)
    if parts.scheme or parts.netloc:
        return default
    return url[:2000]


def _web_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.session() as session:
        yield session


WebSessionDep = Annotated[Session, Depends(_web_session)]


def current_person(request: Request, session: WebSessionDep) -> Person:
    token = session_token(request)
    person = session_person(session, token) if token else None
    if person is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(local_path(target))
    return person


PersonDep = Annotated[Person, Depends(current_person)]


def reader(person: PersonDep) -> Person:
    """Host details and lists: admins and viewers (planners see aggregates only)."""
    if person.role not in READERS:
        raise Forbidden
    return person


def admin(person: PersonDep) -> Person:
    if person.role != "admin":
        raise Forbidden
    return person


def planner(person: PersonDep) -> Person:
    """The budget and the planners' aggregate views: admins and planners."""
    if person.role not in ("admin", "planner"):
        raise Forbidden
    return person


def ergonomics_reader(person: PersonDep) -> Person:
    """The ergonomics list: admins and viewers (with hosts), planners (aggregates only)."""
    if person.role not in ("admin", "viewer", "planner"):
        raise Forbidden
    return person


def privacy_reader(person: PersonDep) -> Person:
    """The data-protection view and the audit log: admins and the data-protection officer."""
    if person.role not in ("admin", "dpo"):
        raise Forbidden
    return person


def fleet_admin(person: PersonDep) -> Person:
    """Administration of organizations, sites, enrollment, agents, people, tokens and SSH
    targets: an admin of every organization (an admin scoped to one organization manages
    that organization's waivers, not the collector)."""
    if person.role != "admin" or person.org_id is not None:
        raise Forbidden
    return person


ReaderDep = Annotated[Person, Depends(reader)]
AdminDep = Annotated[Person, Depends(admin)]
PlannerDep = Annotated[Person, Depends(planner)]
ErgonomicsDep = Annotated[Person, Depends(ergonomics_reader)]
PrivacyDep = Annotated[Person, Depends(privacy_reader)]
FleetAdminDep = Annotated[Person, Depends(fleet_admin)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def actor_of(request: Request, person: Person) -> Actor:
    """The person as the audit log records them, with the address the request came from."""
    return Actor.person(person.name, client_address(request))


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send), small."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadForm("expected a form (application/x-www-form-urlencoded)", 415)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadForm("form too large", 413)
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=50
        )
    except (UnicodeDecodeError, ValueError):
        raise BadForm("the form is not valid UTF-8 form data") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if "\x00" in value:
            raise BadForm("the form contains a NUL character")
        form.setdefault(key, value)
    return form


def same_origin(request: Request) -> bool:
    """The POST comes from a page of this site: its Origin (or else Referer) names this
    scheme, host and port. A request with neither passes here; the token still decides."""
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == own
    referer = request.headers.get("referer")
    if referer is not None:
        parts = urllib.parse.urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == own
    return True


def check_csrf(request: Request, expected: str | None, form: dict[str, str]) -> None:
    """403 unless the form's token is ``expected`` (compared in constant time) and the
    request comes from this site."""
    given = form.get("csrf_token", "")
    if not expected or not given or not secrets.compare_digest(given, expected):
        raise BadForm("the form's security token is missing or wrong; reload the page", 403)
    if not same_origin(request):
        raise BadForm("the form was sent from another site", 403)


def current_person_or_none(request: Request) -> Person | None:
    """The person, for an error page's header (no redirect, no error of its own)."""
    token = session_token(request)
    if not token:
        return None
    db: Database = request.app.state.db
    with db.session() as session:
        return session_person(session, token)
