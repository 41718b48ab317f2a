"""The web UI: server-rendered pages (Jinja2, German and English), people's sessions, CSRF.

:func:`install` mounts it on the collector's app: the pages' routers, the static files
(served with a year's cache under a versioned URL), the security headers, and the error
pages (a page answers errors as HTML; the JSON API keeps its JSON answers).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from collector.web import account, admin, evidence, pages, planning, sso, vulns, waivers
from collector.web.auth import BadForm, Forbidden, LoginRequired, current_person_or_none
from collector.web.filters import BadParameter
from collector.web.headers import SecurityHeaders, is_ui_path
from collector.web.i18n import environment
from collector.web.render import STATIC, render, static_version

YEAR = 365 * 24 * 3600


class CachedStatic(StaticFiles):
    """Static files under /static/<version>/: cacheable for a year, never revalidated."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        return await super().get_response(path, scope)


def install(app: FastAPI) -> None:
    for lang in ("de", "en"):
        environment(lang)  # compile both catalogues at start: a broken .po fails here
    for module in (account, sso, pages, planning, evidence, admin, waivers, vulns):
        app.include_router(module.router)
    app.mount(f"/static/{static_version()}", CachedStatic(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def login_required(_request: Request, exc: LoginRequired) -> Response:

        target = "/login" if exc.next_url == "/" else "/login?" + urlencode({"next": exc.next_url})
        return RedirectResponse(target, 303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc: Forbidden) -> Response:
        return _error_page(request, 403, "forbidden")

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, exc: BadForm) -> Response:
        return _error_page(request, exc.status, "form", exc.message)

    @app.exception_handler(BadParameter)
    async def bad_parameter(request: Request, exc: BadParameter) -> Response:
        return _error_page(request, 400, "parameter", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_ui_path(request.url.path) or request.url.path.startswith("/static/"):
            return await http_exception_handler(request, exc)
        kind = "not-found" if exc.status_code == 404 else "http"
        return _error_page(request, exc.status_code, kind, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_ui_path(request.url.path):
            return await request_validation_exception_handler(request, exc)
        return _error_page(request, 404 if "/hosts/" in request.url.path else 400, "parameter")


def _error_page(request: Request, status: int, kind: str, detail: str = "") -> Response:
    person = current_person_or_none(request)
    return render(request, "error.html", person, status, kind=kind, detail=detail, code=status)
