"""Liveness, readiness and the Prometheus endpoint."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from collector.api.deps import DbDep, MetricsDep, SettingsDep
from collector.security import hash_secret, same

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(db: DbDep) -> dict[str, str]:
    """The database is reachable."""
    try:
        await run_in_threadpool(db.ping)
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unreachable") from None
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, settings: SettingsDep, m: MetricsDep) -> Response:
    """Prometheus exposition; needs ``Bearer INVENTAR_METRICS_TOKEN`` when that is set."""
    if settings.metrics_token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not same(hash_secret(given), hash_secret(settings.metrics_token)):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "metrics need a bearer token")
    body = await run_in_threadpool(generate_latest, m.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
