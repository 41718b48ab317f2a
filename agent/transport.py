"""HTTPS to the collector with the standard library only: urllib.request + ssl.

Verified TLS (system trust store or a CA bundle file), gzip'd bodies, bearer tokens,
timeouts, no redirects (a token must never follow one), retries with backoff for
failures that may pass (network errors, 429, 5xx).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import logging
import random
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from agent import __version__

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_RESPONSE_BYTES = 1024 * 1024
USER_AGENT = f"inventar-agent/{__version__}"


class TransportError(Exception):
    def __init__(self, message: str, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_server_url(server: str, allow_http: bool = False) -> str:
    """The server's base URL without a trailing slash; plain http only to loopback."""
    parsed = urllib.parse.urlsplit(server)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise TransportError(f"server must be an https:// URL, not {server!r}")
    if parsed.scheme == "http" and not (allow_http or _is_loopback(parsed.hostname)):
        raise TransportError(
            "plain http is allowed only to loopback; use https (or --allow-http for testing)"
        )
    return server.rstrip("/")


def ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def request_json(
    url: str,
    payload: Any,
    *,
    token: str | None = None,
    ca_file: str | None = None,
    compress: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    body: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    """POSTs JSON (``payload``, or ready ``body`` bytes) and returns (status, JSON answer)."""
    data = body if body is not None else json.dumps(payload).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    if compress:
        data = gzip.compress(data, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=ssl_context(ca_file)))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with opener.open(req, timeout=timeout) as resp:
            status = int(resp.status)
            text = resp.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        status = exc.code
        detail = _detail(exc.read(MAX_RESPONSE_BYTES))
        retryable = status == 429 or status >= 500
        raise TransportError(f"{url}: HTTP {status}: {detail}", status, retryable) from None
    except ssl.SSLError as exc:
        raise TransportError(f"{url}: TLS failed: {exc}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError):
            raise TransportError(f"{url}: TLS failed: {reason}") from None
        raise TransportError(f"{url}: {reason}", retryable=True) from None
    try:
        answer = json.loads(text) if text else {}
    except ValueError:
        raise TransportError(f"{url}: answer is not JSON", status) from None
    return status, answer if isinstance(answer, dict) else {"value": answer}


def _detail(text: bytes) -> str:
    try:
        answer = json.loads(text)
    except ValueError:
        return text[:300].decode("utf-8", "replace")
    if isinstance(answer, dict) and "detail" in answer:
        return json.dumps(answer["detail"])[:1000]
    return json.dumps(answer)[:1000]


def enroll(
    server: str,
    secret: str,
    machine_id: str,
    hostname: str | None,
    *,
    ca_file: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    _status, answer = request_json(
        f"{server}/api/v1/enroll",
        {"secret": secret, "machine_id": machine_id, "hostname": hostname},
        ca_file=ca_file,
        timeout=timeout,
    )
    if not isinstance(answer.get("agent_id"), str) or not isinstance(answer.get("token"), str):
        raise TransportError("enrollment answer lacks agent_id/token")
    return answer


def send_report(
    server: str,
    token: str,
    report_json: bytes,
    *,
    ca_file: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    attempts: int = 3,
    backoff_s: float = 2.0,
) -> dict[str, Any]:
    """Sends one report (gzip'd); retries what may pass, with exponential backoff + jitter."""
    for attempt in range(1, attempts + 1):
        try:
            _status, answer = request_json(
                f"{server}/api/v1/reports",
                None,
                body=report_json,
                token=token,
                ca_file=ca_file,
                compress=True,
                timeout=timeout,
            )
            return answer
        except TransportError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            delay = backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            log.warning("sending failed (%s); retry in %.1f s", exc.message, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
