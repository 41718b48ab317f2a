"""Wires agentless collection and discovery into the collector's app: the devices and
discoveries routes, and the scheduled SSH collection inside ``serve``.

Each target is collected every ``INVENTAR_SSH_INTERVAL`` seconds (default 1 h; 0 = off),
the first round ``INVENTAR_SSH_FIRST_DELAY`` seconds after the start, in a background
apscheduler thread that looks for due targets every POLL_SECONDS at most; a round that is
still running when the next is due is not started twice. Replicas on one database share the
targets through leases in the database (collector.ssh.schedule): every target is collected
once per interval, whichever replica takes it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from collector.db import Database
from collector.limits import Limits
from collector.settings import Settings
from collector.ssh.settings import SshSettings

log = logging.getLogger(__name__)

# How often a replica looks for due targets (their own interval is INVENTAR_SSH_INTERVAL).
POLL_SECONDS = 60.0

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def install(app: FastAPI, db: Database, settings: Settings) -> None:
    """Adds the devices/discoveries routes and the scheduled SSH collection to ``app``."""
    from collector.api.routes import devices  # noqa: PLC0415

    app.include_router(devices.router)
    ssh_settings = SshSettings()
    if ssh_settings.interval <= 0:
        return
    limits = settings.limits
    inner: Lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        scheduler = start_scheduler(db, ssh_settings, limits)
        try:
            async with inner(application) as state:
                yield state
        finally:
            scheduler.shutdown(wait=False)

    app.router.lifespan_context = lifespan


def start_scheduler(db: Database, settings: SshSettings, limits: Limits) -> Any:
    from apscheduler.schedulers.background import (  # type: ignore[import-untyped]  # noqa: PLC0415
        BackgroundScheduler,
    )

    def job() -> None:
        from collector.ssh.collect import collect_due  # noqa: PLC0415  (paramiko on first use)

        try:
            outcomes = collect_due(db, settings, limits=limits)
        except Exception:  # the scheduler must keep running
            log.exception("scheduled SSH collection failed")
            return
        if outcomes:
            failed = sum(not o.ok for o in outcomes)
            log.info("SSH collection: %d host(s), %d failed", len(outcomes), failed)

    scheduler = BackgroundScheduler(timezone=dt.UTC)
    scheduler.add_job(
        job,
        "interval",
        seconds=min(settings.interval, POLL_SECONDS),
        id="ssh-collect",
        next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.first_delay),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.start()
    log.info("scheduled SSH collection every %g s", settings.interval)
    return scheduler
