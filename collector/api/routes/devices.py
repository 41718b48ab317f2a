"""Devices on the network: agents post their discoveries, people list the devices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from collector.api.deps import CredentialsDep, DbDep, ReaderDep, SessionDep, agent_token_hash
from collector.api.params import NAME_PATTERN
from collector.db import Database
from collector.discovery import (
    DeviceView,
    Discovery,
    StoredDiscovery,
    list_devices,
    store_discovery,
)
from collector.ingest import find_agent
from collector.limits import Limits
from collector.report_decoding import BadReport, decompress, validation_errors

router = APIRouter(prefix="/api/v1", tags=["devices"])

# The body limit of this path is the collector's default for small bodies (64 KiB); a
# gzip'd discovery of a /22 (1022 devices) fits easily.
MAX_DECOMPRESSED = 4 * 1024 * 1024


class DevicePage(BaseModel):
    items: list[DeviceView]  # a dataclass: pydantic validates and documents it as is
    total: int
    limit: int
    offset: int


class DiscoveryAnswer(BaseModel):
    status: str
    devices: int
    new: int
    site: str


@router.get("/devices")
def get_devices(
    *,
    session: SessionDep,
    principal: ReaderDep,
    site: Annotated[str | None, Query(max_length=256, pattern=NAME_PATTERN)] = None,
    managed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> DevicePage:
    """Devices found by agents' network discovery, of the token's organization(s); ``managed``
    is true when the device's MAC belongs to a host that reports."""
    items, total = list_devices(
        session, org_id=principal.org_id, site=site, managed=managed, limit=limit, offset=offset
    )
    return DevicePage(items=items, total=total, limit=limit, offset=offset)


def _store(db: Database, token_hash: str, discovery: Discovery) -> StoredDiscovery:
    with db.engine.connect() as conn:
        agent = find_agent(conn, token_hash)
    if agent is None:
        raise HTTPException(
            401, "invalid or revoked agent token", headers={"WWW-Authenticate": "Bearer"}
        )
    with db.write_session() as session:
        return store_discovery(session, agent, discovery)


@router.post(
    "/discoveries",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": Discovery.model_json_schema()}},
        }
    },
)
async def post_discovery(
    request: Request, db: DbDep, credentials: CredentialsDep
) -> DiscoveryAnswer:
    """An agent's network discovery (agent token; JSON, optionally gzip'd): the devices that
    answered, stored in the agent's site."""
    token_hash = agent_token_hash(credentials)
    body = await request.body()
    limits = Limits(max_decompressed_bytes=MAX_DECOMPRESSED)
    try:
        data = decompress(body, request.headers.get("content-encoding"), limits)
    except BadReport as exc:
        raise HTTPException(exc.status, exc.message) from None
    try:
        discovery = Discovery.model_validate_json(data)
    except ValidationError as exc:
        raise HTTPException(422, detail=validation_errors(exc)) from None
    result = await run_in_threadpool(_store, db, token_hash, discovery)
    return DiscoveryAnswer(
        status="stored", devices=result.devices, new=result.new, site=result.site
    )
