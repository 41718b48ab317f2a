"""Dependencies: database sessions, settings, and who is calling (agent or person)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, select

from collector.db import Database
from collector.metrics import Metrics
from collector.models import ApiToken
from collector.security import hash_secret
from collector.settings import Settings

MAX_TOKEN_LENGTH = 512

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


def current_principal(session: SessionDep, credentials: CredentialsDep) -> Principal:
    digest = _token_hash(credentials)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if row is None or row.revoked:
        raise _unauthorized("invalid or revoked token")
    assert row.id is not None
    return Principal(row.id, row.role, row.org_id)


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
