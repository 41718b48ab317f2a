"""Report ingestion by agents: the API's description of POST /api/v1/reports.

Requests to this path are answered by :class:`collector.api.ingest_endpoint.IngestEndpoint`
before they reach the framework (the hot path); this route documents the endpoint in the
OpenAPI description and serves it should the app run without that layer. Both call the same
:func:`~collector.api.ingest_endpoint.ingest`.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from collector.api.deps import CredentialsDep, DbDep, SettingsDep, agent_token_hash
from collector.api.ingest_endpoint import Unauthorized, ingest

router = APIRouter(prefix="/api/v1", tags=["reports"])


class ReportAccepted(BaseModel):
    status: str
    report_id: str
    host_id: int
    changed_sections: list[str]


@router.post(
    "/reports",
    status_code=201,
    responses={200: {"description": "already stored (a resend)"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}},
        }
    },
)
async def post_report(
    *,
    request: Request,
    response: Response,
    credentials: CredentialsDep,
    db: DbDep,
    settings: SettingsDep,
) -> ReportAccepted:
    """Stores one report (JSON, optionally ``Content-Encoding: gzip``); idempotent by
    ``report_id``."""
    limits = settings.limits
    token_hash = agent_token_hash(credentials)
    body = await request.body()
    encoding = request.headers.get("content-encoding")
    try:
        result = await anyio.to_thread.run_sync(ingest, db, token_hash, body, encoding, limits)
    except Unauthorized as exc:
        raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer"}) from None
    if result.status == "duplicate":
        response.status_code = 200
    return ReportAccepted(
        status=result.status,
        report_id=result.report_id,
        host_id=result.host_id,
        changed_sections=result.changed_sections,
    )
