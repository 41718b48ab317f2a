"""Dependencies: database sessions, settings, and who is calling (agent or person)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Protocol

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, col, select

from collector.db import Database
from collector.metrics import Metrics
from collector.models import ApiToken, Host, Site, table_of, utcnow
from collector.security import (
    FLEET,
    MAX_TOKEN_LENGTH,
    MetricsScope,
    bearer_value,
    hash_secret,
    settings_credentials_match,
)
from collector.settings import Settings

log = logging.getLogger(__name__)


_bearer = HTTPBearer(auto_error=False, description="an API token or an agent token")


# These three are ``async`` although they await nothing: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop per request for reading an attribute.
async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def get_session(db: DbDep) -> Iterator[Session]:
    with db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"}
    )


def _token_hash(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token")
    token = credentials.credentials
    if len(token) > MAX_TOKEN_LENGTH:
        raise _unauthorized("invalid token")
    return hash_secret(token)


@dataclass(frozen=True)
class Principal:
    """A person's API token: a role, and the one organization it sees (None = all)."""

    token_id: int
    role: str
    org_id: int | None


# How stale a token's "last used" may get: one write a minute per token, not one per request.
LAST_USE_RESOLUTION = dt.timedelta(minutes=1)


def current_principal(session: SessionDep, db: DbDep, credentials: CredentialsDep) -> Principal:
    """The caller's API token, read from the database at every request: a revoked or expired
    token is refused at once, on every replica (there is no cache to outlive it)."""
    digest = _token_hash(credentials)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if row is None or row.revoked:
        raise _unauthorized("invalid or revoked token")
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise _unauthorized("token expired")
    assert row.id is not None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_RESOLUTION:
        touch_token(db, row.id, now)
    return Principal(row.id, row.role, row.org_id)


def touch_token(db: Database, token_id: int, now: dt.datetime) -> None:
    """Records the token's use (a failure to record it must not fail the request)."""
    try:
        with db.write_session() as session:
            session.connection().execute(
                sa.update(table_of(ApiToken))
                .where(table_of(ApiToken).c.id == token_id)
                .values(last_used_at=now)
            )
            session.commit()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not record the use of API token %s: %s", token_id, exc)


def require(*roles: str) -> object:
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role!r} may not do this; needs {' or '.join(roles)}",
            )
        return principal

    return Depends(check)


def agent_token_hash(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The agent token's hash; the agent itself is looked up with the report's transaction."""
    return _token_hash(credentials)


ReaderDep = Annotated[Principal, require("admin", "viewer")]
AnyRoleDep = Annotated[Principal, require("admin", "viewer", "planner")]


def metrics_scope(
    authorization: str | None, settings: Settings, db: Database
) -> MetricsScope | None:
    """What a /metrics request may see, or None (401).

    The whole fleet: with the configured metrics token or basic auth, or where /metrics is
    open (INVENTAR_METRICS_PUBLIC, or a loopback-only collector without metrics
    credentials). One organization: with an API token of role ``metrics`` scoped to it
    (unscoped: the fleet). Any other credentials are refused, also where /metrics is open.
    """
    if settings.metrics_public:
        return FLEET
    if not authorization:
        return FLEET if settings.metrics_open else None
    if settings_credentials_match(
        authorization, settings.metrics_token, settings.metrics_basic_auth
    ):
        return FLEET
    token = bearer_value(authorization)
    if token is None or len(token) > MAX_TOKEN_LENGTH:
        return None
    with db.session() as session:
        row = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_secret(token))
        ).first()
    now = utcnow()
    if row is None or row.revoked or row.role != "metrics":
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    assert row.id is not None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_RESOLUTION:
        touch_token(db, row.id, now)
    return MetricsScope(row.org_id)


class Scoped(Protocol):
    """Anyone scoped to one organization or all (None): an API token, a logged-in person."""

    @property
    def org_id(self) -> int | None: ...


def visible_host(session: Session, principal: Scoped, host_id: int) -> tuple[Host, Site]:
    """The host and its site if ``principal`` may see it; 404 otherwise."""
    row = session.exec(
        select(Host, Site).join(Site, col(Site.id) == col(Host.site_id)).where(Host.id == host_id)
    ).first()
    # Another organization's host is "not found", not "forbidden": its existence is private.
    if row is None or (principal.org_id is not None and row[0].org_id != principal.org_id):
        raise HTTPException(404, "no such host")
    return row
