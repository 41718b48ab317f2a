"""The collector's ASGI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.schema import Report
from collector import __version__
from collector.api.drain import drain
from collector.api.ingest_endpoint import REPORTS_PATH, IngestEndpoint
from collector.api.routes import (
    budget,
    enroll,
    findings,
    health,
    history,
    hosts,
    reports,
    sites,
    vulns,
)
from collector.db import Database
from collector.decode_pool import DecodePool
from collector.decode_pool import default_size as default_decode_workers
from collector.findings import start_evaluator
from collector.group_commit import GroupCommit
from collector.metrics import Metrics
from collector.report_decoding import BadReport
from collector.retention import RetentionJob
from collector.settings import Settings
from collector.ssh.jobs import install as install_agentless
from collector.unavailable import DETAIL as UNAVAILABLE
from collector.unavailable import RETRY_AFTER_SECONDS, database_unavailable
from collector.vulns.job import VulnJob
from collector.web import install as install_web

log = logging.getLogger(__name__)

# Bodies other than reports are small (an enrollment request is ~200 bytes).
SMALL_BODY_BYTES = 64 * 1024


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuses request bodies over a limit with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, report_limit: int, default_limit: int) -> None:
        self.app = app
        self.report_limit = report_limit
        self.default_limit = default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.report_limit if scope["path"] == REPORTS_PATH else self.default_limit
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > limit
                except ValueError:
                    too_large = False
                if too_large:
                    await drain(receive)
                    await self._refuse(send, limit)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await drain(receive)
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = JSONResponse({"detail": f"request body exceeds {limit} bytes"}, 413).body
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    db = db or Database(settings.database_url, settings.db_pool_size)
    db.limit_statements(settings.db_statement_timeout or None)

    # On PostgreSQL the decode workers store the reports too (collector.worker_store).
    storing = not db.is_sqlite
    workers = settings.decode_workers
    workers = default_decode_workers(storing=storing) if workers is None else workers
    pool = (
        DecodePool(
            workers,
            settings.limits,
            database_url=db.url if storing else None,
            statement_timeout=settings.db_statement_timeout or None,
        )
        if workers
        else None
    )
    # Several reports per transaction (collector/group_commit.py).
    writer = GroupCommit(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # findings: evaluates queued hosts, reloads packs
        evaluator = start_evaluator(db, settle=settings.findings_settle_seconds)
        retention = RetentionJob(
            db, settings.history_retention_days, audit_days=settings.audit_retention_days
        ).start()
        vulns = VulnJob(
            db,
            settings.vuln_match_interval_seconds,
            settings.vuln_feed_urls,
            settings.vuln_feed_interval_hours * 3600,
        ).start()
        if pool is not None:
            await pool.start()
        yield
        if pool is not None:
            await pool.stop()
        if writer is not None:
            writer.stop()
        vulns.stop()
        retention.stop()
        evaluator.stop()
        db.dispose()

    app = FastAPI(
        title="Inventar collector",
        version=__version__,
        description="Inventory and security posture of municipal IT: agents report here.",
        lifespan=lifespan,
        # The collector exports no OpenTelemetry data: without this, FastAPI looks up the
        # tracer, meter and logger providers (environment variables) on every request,
        # agents' reports included (py-spy: ~2 % of the serving process per report).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.db = db
    app.state.decode_pool = pool
    app.state.metrics = Metrics(
        db, settings.metrics_cache_seconds, pool, host_limit=settings.metrics_host_series_limit
    )

    @app.exception_handler(BadReport)
    async def bad_report(_request: Request, exc: BadReport) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status)

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal server error"}, 500)
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)  # fmt: skip
        return JSONResponse(
            {"detail": UNAVAILABLE}, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    # The database down, locked or full: 503 with Retry-After on every route, never a 500.
    app.add_exception_handler(sa.exc.DBAPIError, database_error)
    app.add_exception_handler(sa.exc.TimeoutError, database_error)

    for module in (health, enroll, reports, hosts, history, sites, findings, budget, vulns):
        app.include_router(module.router)
    install_agentless(app, db, settings)  # devices/discoveries routes, SSH collection job
    install_web(app)  # the pages people log in to (collector/web)
    app.add_middleware(
        BodyLimitMiddleware,
        report_limit=settings.max_body_bytes,
        default_limit=SMALL_BODY_BYTES,
    )
    # Outermost: agents' reports are answered before the framework's layers (see there why).
    app.add_middleware(
        IngestEndpoint,
        settings=settings,
        db=db,
        metrics=app.state.metrics,
        pool=pool,
        writer=writer,
    )
    _add_report_schema(app)
    return app


def _add_report_schema(app: FastAPI) -> None:
    """Puts the wire contract (agent.schema.Report) into the OpenAPI components."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        _, defs = msgspec.json.schema_components(
            [Report], ref_template="#/components/schemas/{name}"
        )
        # The Report and each of its parts, as components of their own.
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
