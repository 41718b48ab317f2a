"""HTTPS to the collector with the standard library only: urllib.request + ssl.

Verified TLS (system trust store or a CA bundle file), gzip'd bodies, bearer tokens,
timeouts, no redirects (a token must never follow one), retries with backoff for
failures that may pass (network errors, 429, 5xx). A certificate the agent cannot verify is
reported as such ("TLS certificate problem: certificate verify failed: ...").
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
from collections.abc import Mapping
from typing import Any

from agent import __version__

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_RESPONSE_BYTES = 1024 * 1024
USER_AGENT = f"inventar-agent/{__version__}"


class TransportError(Exception):
    def __init__(
        self,
        message: str,
        status: int | None = None,
        retryable: bool = False,
        answer: dict[str, Any] | None = None,
        certificate: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.answer = answer or {}
        self.certificate = certificate  # the collector's certificate could not be verified

    @property
    def need_full(self) -> bool:
        """The collector lacks the base of a delta report (409, ``need_full: true``)."""
        return self.status == 409 and self.answer.get("need_full") is True


def _tls_error(url: str, exc: ssl.SSLError) -> TransportError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return TransportError(
            f"{url}: TLS certificate problem: certificate verify failed: {reason} (the "
            "collector's certificate is not trusted here; give its CA with --ca-file / ca_file)",
            certificate=True,
        )
    return TransportError(f"{url}: TLS failed: {exc}")


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
    proxy: str | None = None,
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
    if proxy:  # else urllib's default: http(s)_proxy / no_proxy from the environment
        handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
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
        raw = exc.read(MAX_RESPONSE_BYTES)
        detail = _detail(raw)
        retryable = status == 429 or status >= 500
        raise TransportError(
            f"{url}: HTTP {status}: {detail}", status, retryable, _answer(raw)
        ) from None
    except ssl.SSLError as exc:
        raise _tls_error(url, exc) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError):
            raise _tls_error(url, reason) from None
        raise TransportError(f"{url}: {reason}", retryable=True) from None
    try:
        answer = json.loads(text) if text else {}
    except ValueError:
        raise TransportError(f"{url}: answer is not JSON", status) from None
    return status, answer if isinstance(answer, dict) else {"value": answer}


def _answer(text: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(text)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


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
    proxy: str | None = None,
) -> dict[str, Any]:
    _status, answer = request_json(
        f"{server}/api/v1/enroll",
        {"secret": secret, "machine_id": machine_id, "hostname": hostname},
        ca_file=ca_file,
        timeout=timeout,
        proxy=proxy,
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
    proxy: str | None = None,
) -> dict[str, Any]:
    """Sends one report (gzip'd); retries what may pass, with exponential backoff + jitter.

    The answer is the collector's JSON with ``http_status`` added (201 stored, 200 a resend).
    """
    for attempt in range(1, attempts + 1):
        try:
            status, answer = request_json(
                f"{server}/api/v1/reports",
                None,
                body=report_json,
                token=token,
                ca_file=ca_file,
                compress=True,
                timeout=timeout,
                proxy=proxy,
            )
            answer["http_status"] = status
            return answer
        except TransportError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            delay = backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            log.warning("sending failed (%s); retry in %.1f s", exc.message, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def send_discovery(
    server: str,
    token: str,
    result: Mapping[str, Any],
    *,
    ca_file: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    proxy: str | None = None,
) -> dict[str, Any]:
    """Posts a network discovery (``agent.discover.Result.to_json()``) to
    ``/api/v1/discoveries``, gzip'd, once: the next scheduled sweep is the retry."""
    _status, answer = request_json(
        f"{server}/api/v1/discoveries",
        result,
        token=token,
        ca_file=ca_file,
        compress=True,
        timeout=timeout,
        proxy=proxy,
    )
    return answer
