"""Wires agentless collection and discovery into the collector's app: the devices and
discoveries routes, and the scheduled SSH collection inside ``serve``.

The SSH job runs every ``INVENTAR_SSH_INTERVAL`` seconds (default 1 h; 0 = off), first
``INVENTAR_SSH_FIRST_DELAY`` seconds after the start, in a background apscheduler thread;
a round that is still running when the next is due is not started twice. With several
replicas on one database, turn it on in one of them only.
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
        from collector.ssh.collect import collect_all  # noqa: PLC0415  (paramiko on first use)

        try:
            outcomes = collect_all(db, settings, limits=limits)
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
        seconds=settings.interval,
        id="ssh-collect",
        next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.first_delay),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.start()
    log.info("scheduled SSH collection every %g s", settings.interval)
    return scheduler
