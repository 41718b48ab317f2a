"""Secrets and tokens: 256-bit random, shown once, stored as SHA-256 hex."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Prefixes tell a leaked string's kind at a glance (and let secret scanners match them).
ENROLL_PREFIX = "inv_enr_"
AGENT_PREFIX = "inv_agt_"
API_PREFIX = "inv_api_"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
