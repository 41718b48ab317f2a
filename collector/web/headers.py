"""Security headers on every response of the web UI (pages, errors, static files).

The Content-Security-Policy allows scripts and styles from the collector only: no inline
script, no inline event handler, no eval (htmx runs with allowEval false, configured by a
meta tag). Pages may not be framed (clickjacking). The JSON API and /docs (Swagger UI needs
inline scripts) are left as they are.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]
UI_PREFIXES = ("/login", "/logout", "/lang", "/hosts", "/findings", "/devices", "/waivers",
               "/static/", "/budget", "/ergonomics", "/wlan", "/compliance", "/privacy",
               "/audit", "/admin", "/account", "/barrierefreiheit", "/vulnerabilities")  # fmt: skip


def is_ui_path(path: str) -> bool:
    return path == "/" or path.startswith(UI_PREFIXES)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_ui_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
