"""OpenID Connect, authorization code flow with PKCE (RFC 7636, S256), with authlib's OAuth 2
client; the ID token is checked with joserfc (authlib's JOSE library): signature against the
provider's JWKS, issuer, audience, expiry and the nonce of this login.

The provider's metadata comes from ``<issuer>/.well-known/openid-configuration`` (its
``issuer`` must be the configured one) and is kept for an hour, as are its keys (fetched
again when a token names a key not seen yet). Only HTTPS issuers are accepted, but for
loopback (tests, a provider on the same machine).
"""

from __future__ import annotations

import secrets
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import authlib.deprecate  # noqa: F401  its "always" filter first, so that ours goes before it
import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from collector.settings import Settings

with warnings.catch_warnings():
    # authlib 1.9 warns that its httpx integration will move to httpx2; the API used here
    # (create_authorization_url, fetch_token) is the same in both.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

CACHE_SECONDS = 3600
TIMEOUT = 10.0


class OidcError(Exception):
    """The provider could not be asked, or its answer is not valid."""


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


@dataclass(frozen=True)
class Login:
    """What the browser keeps (in a short-lived cookie) between redirect and callback."""

    state: str
    nonce: str
    verifier: str
    next_url: str


@dataclass(frozen=True)
class Identity:
    subject: str  # issuer|sub: unique across providers
    username: str
    groups: list[str]


_cache: dict[str, tuple[float, Any]] = {}
_lock = threading.Lock()


def _secure(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (
        parts.scheme == "http" and (parts.hostname or "") in ("localhost", "127.0.0.1", "::1")
    )


def _get_json(url: str) -> Any:
    if not _secure(url):
        raise OidcError(f"{url}: the provider must be reached over HTTPS")
    try:
        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(f"{url}: {exc}") from None


def _cached(key: str, load: Any, refresh: bool = False) -> Any:
    with _lock:
        hit = _cache.get(key)
        if hit is not None and not refresh and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
    value = load()
    with _lock:
        _cache[key] = (time.monotonic(), value)
    return value


def metadata(settings: Settings) -> Metadata:
    issuer = (settings.oidc_issuer or "").rstrip("/")

    def load() -> Metadata:
        doc = _get_json(issuer + "/.well-known/openid-configuration")
        if not isinstance(doc, dict) or str(doc.get("issuer", "")).rstrip("/") != issuer:
            raise OidcError(f"the provider's metadata names another issuer: {doc.get('issuer')!r}")
        try:
            return Metadata(issuer, doc["authorization_endpoint"], doc["token_endpoint"],
                            doc["jwks_uri"], doc.get("userinfo_endpoint"))  # fmt: skip
        except KeyError as exc:
            raise OidcError(f"the provider's metadata lacks {exc}") from None

    result: Metadata = _cached("meta:" + issuer, load)
    return result


def _client(settings: Settings, redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scope=settings.oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=TIMEOUT,
    )


def start(settings: Settings, redirect_uri: str, next_url: str) -> tuple[str, Login]:
    """The provider's authorization URL for a new login, and what to keep until the
    callback."""
    meta = metadata(settings)
    login = Login(secrets.token_urlsafe(24), secrets.token_urlsafe(24),
                  secrets.token_urlsafe(48), next_url)  # fmt: skip
    with _client(settings, redirect_uri) as client:
        url, _state = client.create_authorization_url(
            meta.authorization_endpoint, state=login.state, nonce=login.nonce,
            code_verifier=login.verifier,
        )  # fmt: skip
    return url, login


def _keys(meta: Metadata, refresh: bool = False) -> KeySet:
    keys: KeySet = _cached(
        "jwks:" + meta.jwks_uri, lambda: KeySet.import_key_set(_get_json(meta.jwks_uri)), refresh
    )
    return keys


def finish(settings: Settings, redirect_uri: str, login: Login, code: str) -> Identity:
    """Exchanges the code (with the PKCE verifier) and checks the ID token."""
    meta = metadata(settings)
    if not _secure(meta.token_endpoint):
        raise OidcError("the token endpoint must be reached over HTTPS")
    try:
        with _client(settings, redirect_uri) as client:
            token = client.fetch_token(
                meta.token_endpoint, code=code, code_verifier=login.verifier,
                grant_type="authorization_code",
            )  # fmt: skip
    except Exception as exc:  # authlib raises its own OAuthError or httpx's errors
        raise OidcError(f"the code was not accepted: {exc}") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("the provider sent no ID token (is the scope openid requested?)")
    claims = _claims(meta, settings, id_token, login.nonce)
    groups = claims.get(settings.oidc_groups_claim)
    if groups is None and meta.userinfo_endpoint:
        groups = _userinfo(meta, token.get("access_token", "")).get(settings.oidc_groups_claim)
    if isinstance(groups, str):
        groups = [groups]
    username = (claims.get(settings.oidc_username_claim) or claims.get("email")
                or claims["sub"])  # fmt: skip
    return Identity(f"{meta.issuer}|{claims['sub']}", str(username)[:128],
                    [str(g) for g in groups or [] if isinstance(g, str | int)])  # fmt: skip


def _claims(meta: Metadata, settings: Settings, id_token: str, nonce: str) -> dict[str, Any]:
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta.issuer},
        aud={"essential": True, "value": settings.oidc_client_id or ""},
        sub={"essential": True},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
        leeway=60,
    )
    for refresh in (False, True):  # a key rotated since the keys were fetched
        try:
            decoded = jwt.decode(
                id_token, _keys(meta, refresh), algorithms=["RS256", "ES256", "PS256", "EdDSA"]
            )
            registry.validate(decoded.claims)
            return dict(decoded.claims)
        except JoseError as exc:
            if refresh:
                raise OidcError(f"the ID token is not valid: {exc}") from None
    raise AssertionError("unreachable")


def _userinfo(meta: Metadata, access_token: str) -> dict[str, Any]:
    assert meta.userinfo_endpoint is not None
    if not _secure(meta.userinfo_endpoint):
        raise OidcError("the userinfo endpoint must be reached over HTTPS")
    try:
        response = httpx.get(meta.userinfo_endpoint, timeout=TIMEOUT,
                             headers={"Authorization": f"Bearer {access_token}"})  # fmt: skip
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(f"userinfo: {exc}") from None
    return data if isinstance(data, dict) else {}
