"""Devices on the network: agents post their discoveries, people list the devices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from collector.api.deps import CredentialsDep, DbDep, ReaderDep, SessionDep, agent_token_hash
from collector.api.params import NAME_PATTERN, CheckQuery, History, Limit, Offset, SiteQuery
from collector.db import Database
from collector.discovery import (
    DeviceView,
    Discovery,
    StoredDiscovery,
    list_devices,
    store_discovery,
)
from collector.findings import notify_devices
from collector.findings.devices import DeviceFindingView, device_findings, device_visible
from collector.ingest import find_agent
from collector.limits import Limits
from collector.policy.model import Category, Severity, Status
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


class DeviceFindingPage(BaseModel):
    items: list[DeviceFindingView]
    total: int
    limit: int
    offset: int


MacPath = Annotated[str, Path(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]


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


@router.get("/device-findings")
def get_device_findings(
    *,
    session: SessionDep,
    principal: ReaderDep,
    site: SiteQuery = None,
    category: Category | None = None,
    severity: Severity | None = None,
    status: Status | None = None,
    check: CheckQuery = None,
    history: History = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeviceFindingPage:
    """Findings of the device checks (policies/devices.yaml) on discovered devices of the
    token's organization(s): unmanaged devices, clear-text services."""
    filters = (("site", site), ("category", category), ("severity", severity),
               ("status", status), ("check_id", check))  # fmt: skip
    items, total = device_findings(session, org_id=principal.org_id, filters=filters,
                                   history=history, limit=limit, offset=offset)  # fmt: skip
    return DeviceFindingPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/devices/{mac}/findings")
def get_findings_of_device(
    *,
    session: SessionDep,
    principal: ReaderDep,
    mac: MacPath,
    history: History = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeviceFindingPage:
    """One device's findings, by its MAC address (lower case, colon separated); 404 for a
    device the token's organization does not have."""
    if not device_visible(session, principal.org_id, mac):
        raise HTTPException(404, f"no device {mac}")
    items, total = device_findings(session, org_id=principal.org_id, mac=mac, history=history,
                                   limit=limit, offset=offset)  # fmt: skip
    return DeviceFindingPage(items=items, total=total, limit=limit, offset=offset)


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
    notify_devices(db, list(result.device_ids))  # the device checks, in the background
    return DiscoveryAnswer(
        status="stored", devices=result.devices, new=result.new, site=result.site
    )
