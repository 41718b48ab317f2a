"""Agent enrollment: a per-site secret buys an agent its own token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from collector.api.deps import DbDep
from collector.db import Database
from collector.report_decoding import BadReport, check_string, validation_errors
from collector.services import Enrollment, ServiceError, enroll

router = APIRouter(prefix="/api/v1", tags=["agents"])


def _safe(value: str) -> str:
    try:
        check_string(value)
    except BadReport as exc:
        raise ValueError(exc.message) from None
    return value


SafeName = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_safe)]


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: Annotated[str, Field(min_length=1, max_length=512)]
    machine_id: SafeName
    hostname: SafeName | None = None


class EnrollResponse(BaseModel):
    agent_id: str
    token: str
    site: str


def _enroll(db: Database, req: EnrollRequest) -> Enrollment:
    with db.write_session() as session:
        return enroll(session, req.secret, req.machine_id, req.hostname)


@router.post(
    "/enroll",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EnrollRequest.model_json_schema()}},
        }
    },
)
async def post_enroll(request: Request, db: DbDep) -> EnrollResponse:
    """Exchanges a site's enrollment secret for an agent id and token (shown once)."""
    body = await request.body()
    try:
        req = EnrollRequest.model_validate_json(body)
    except ValidationError as exc:
        raise HTTPException(422, detail=validation_errors(exc)) from None
    try:
        result = await run_in_threadpool(_enroll, db, req)
    except ServiceError as exc:
        raise HTTPException(exc.status, exc.message) from None
    return EnrollResponse(agent_id=result.agent_id, token=result.token, site=result.site)
