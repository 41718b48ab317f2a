"""Liveness, readiness and the Prometheus endpoint."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST

from collector.api.deps import DbDep, MetricsDep, SettingsDep, metrics_scope
from collector.security import MetricsScope

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
async def metrics(request: Request, settings: SettingsDep, db: DbDep, m: MetricsDep) -> Response:
    """This process's own series (reports received, ingest latency, decode workers, jobs
    run): Prometheus scrapes every replica here. The same credentials as
    ``/metrics/inventory``; an organization's token sees none of them (an empty page)."""
    scope = await _scope(request, settings, db)
    body = m.render_process() if scope.org_id is None else b""
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/metrics/inventory", response_class=Response)
async def inventory_metrics(
    request: Request, settings: SettingsDep, db: DbDep, m: MetricsDep
) -> Response:
    """The fleet's inventory (hosts, findings, devices ...), the same on every replica:
    scraped once, through the load balancer's address. Needs ``Bearer`` with
    INVENTAR_METRICS_TOKEN (the fleet) or an API token of role ``metrics`` (its
    organization's series only), or the basic auth of INVENTAR_METRICS_BASIC_AUTH; open
    without credentials only where the collector listens on loopback with none configured,
    or with INVENTAR_METRICS_PUBLIC=true."""
    scope = await _scope(request, settings, db)
    body = await run_in_threadpool(m.render_inventory, scope)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def _scope(request: Request, settings: SettingsDep, db: DbDep) -> MetricsScope:
    given = request.headers.get("authorization")
    scope = await run_in_threadpool(metrics_scope, given, settings, db)
    if scope is None:
        challenge = "Basic" if settings.metrics_basic_auth else "Bearer"
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "metrics need credentials",
            headers={"WWW-Authenticate": f'{challenge} realm="metrics"'},
        )
    return scope
