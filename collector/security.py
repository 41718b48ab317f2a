"""Secrets and tokens: 256-bit random, shown once, stored as SHA-256 hex; and who may read
/metrics (:func:`metrics_scope`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

# Prefixes tell a leaked string's kind at a glance (and let secret scanners match them).
ENROLL_PREFIX = "inv_enr_"
AGENT_PREFIX = "inv_agt_"
API_PREFIX = "inv_api_"
# Longer bearer tokens are refused before any hashing or lookup (ours are ~50 characters).
MAX_TOKEN_LENGTH = 512


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


# --- /metrics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsScope:
    """What a /metrics request may see: the whole fleet (``org_id`` None) or one
    organization's series only."""

    org_id: int | None = None


FLEET = MetricsScope()


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def metrics_open(public: bool, token: str | None, basic_auth: str | None, host: str) -> bool:
    """/metrics without credentials: when opened deliberately (INVENTAR_METRICS_PUBLIC), or
    on a loopback-only collector that has no metrics credentials configured (`make run`).
    A collector on any other address never answers /metrics without credentials."""
    return public or (not token and not basic_auth and is_loopback(host))


def settings_credentials_match(
    authorization: str | None, token: str | None, basic_auth: str | None
) -> bool:
    """Whether the header carries the configured metrics token (``Bearer``) or basic auth
    (``user:password`` or ``user:sha256:<hex SHA-256 of the password>``); constant time."""
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()
    if token and scheme.lower() == "bearer":
        return same(hash_secret(value), hash_secret(token))
    if basic_auth and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        want_user, _, want = basic_auth.partition(":")
        if want.startswith("sha256:"):
            want_hash = want.removeprefix("sha256:").lower()
        else:
            want_hash = hash_secret(want)
        user_ok = same(hash_secret(user), hash_secret(want_user))
        return same(hash_secret(password), want_hash) and user_ok
    return False


def bearer_value(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None
