"""Report ingestion by agents."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from collector.api.deps import AgentDep, DbDep, MetricsDep, SettingsDep
from collector.db import Database
from collector.ingest import BadReport, Limits, StoreResult, decompress, parse_report, store_report
from collector.models import Agent, Site

router = APIRouter(prefix="/api/v1", tags=["reports"])


class ReportAccepted(BaseModel):
    status: str
    report_id: str
    host_id: int
    changed_sections: list[str]


def _ingest(
    db: Database, agent: Agent, body: bytes, encoding: str | None, limits: Limits
) -> StoreResult:
    data = decompress(body, encoding, limits)
    report = parse_report(data, limits)
    assert report.host is not None
    if report.host.machine_id != agent.machine_id:
        raise BadReport(403, "this agent may only report the machine it was enrolled on")
    raw = data.decode("utf-8")  # the report as received (valid UTF-8: parse_report checked)
    with db.write_session() as session:
        site = session.get(Site, agent.site_id)
        fresh = session.get(Agent, agent.id)
        if site is None or fresh is None or fresh.revoked:
            raise BadReport(401, "agent was revoked")
        return store_report(session, report, raw, site=site, agent=fresh)


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
    agent: AgentDep,
    db: DbDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> ReportAccepted:
    """Stores one report (JSON, optionally ``Content-Encoding: gzip``); idempotent by
    ``report_id``."""
    limits = Limits(
        settings.max_body_bytes, settings.max_decompressed_bytes, settings.max_json_depth
    )
    body = await request.body()
    encoding = request.headers.get("content-encoding")
    try:
        result = await run_in_threadpool(_ingest, db, agent, body, encoding, limits)
    except BadReport:
        metrics.reports.labels("rejected").inc()
        raise
    except Exception:
        metrics.reports.labels("error").inc()
        raise
    metrics.reports.labels(result.status).inc()
    if result.status == "duplicate":
        response.status_code = 200
    return ReportAccepted(
        status=result.status,
        report_id=result.report_id,
        host_id=result.host_id,
        changed_sections=result.changed_sections,
    )
