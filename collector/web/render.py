"""Rendering a page: the person's language, the formats, static file URLs, the common context."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse

from collector.models import utcnow
from collector.people import Person
from collector.web import words
from collector.web.i18n import LANG_COOKIE, WEB, Formats, environment, gettext_for, negotiate

STATIC = WEB / "static"


@cache
def static_version() -> str:
    """A digest of the static files: part of their URLs, so that they can be cached for a
    year and a new version is fetched at once."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{static_version()}/{name}"


def language(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))


def render(
    request: Request,
    template: str,
    person: Person | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    settings = request.app.state.settings
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = (
        environment(lang)
        .get_template(template)
        .render(
            lang=lang,
            other_lang="en" if lang == "de" else "de",
            fmt=Formats(lang, ZoneInfo(settings.ui_timezone)),
            now=utcnow(),
            person=person,
            csrf_token=person.csrf_token if person else "",
            static=static_url,
            here=path,
            words=words,
            t=gettext_for(lang),
            **context,
        )
    )
    response = HTMLResponse(html, status_code)
    response.headers["Vary"] = "Accept-Language, Cookie"
    response.headers["Cache-Control"] = "no-store"
    return response
