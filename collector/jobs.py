"""Scheduled jobs run once per tick across replicas, coordinated through the database.

Every collector process runs the same job threads; a job's time is cut into ticks of its
interval (tick = seconds since the epoch // interval). Before a round, a process claims the
tick with one statement: an INSERT into ``job_runs`` that does nothing when the row exists
(``ON CONFLICT DO NOTHING`` semantics) - the first replica to insert runs the round, the others
skip it. The row carries a lease: if its owner dies before marking the round finished, another
replica takes the tick over (the same upsert, allowed only once ``lease_until`` has passed).
No broker: PostgreSQL's row locks settle the race, and on SQLite (one process) the same
statement simply succeeds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from collector.db import Database
from collector.models import JobRun, table_of, utcnow

log = logging.getLogger(__name__)

_RUNS = table_of(JobRun)
# Who owns a tick: host, pid and a random part (a restarted process is someone else).
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]
# Rounds run by this process, by job (exported on /metrics as inventar_jobs_run_total).
JOBS_RUN: dict[str, int] = {}
# Rows of ticks older than this are deleted by the claims themselves (a small table).
KEEP_DAYS = 7


@dataclass(frozen=True)
class Claim:
    job: str
    tick: int
    attempt: int  # 1, or more when taken over from a replica whose lease expired


def tick_of(interval: float, now: dt.datetime | None = None) -> int:
    return int((now or utcnow()).timestamp() // interval)


def claim(
    db: Database,
    job: str,
    tick: int,
    lease: float,
    *,
    owner: str = OWNER,
    now: dt.datetime | None = None,
) -> Claim | None:
    """Claims ``tick`` of ``job`` for ``lease`` seconds; None when another replica has it
    (running within its lease, or finished)."""
    now = now or utcnow()
    values = {
        "job": job,
        "tick": tick,
        "owner": owner,
        "attempt": 1,
        "started_at": now,
        "lease_until": now + dt.timedelta(seconds=lease),
    }
    insert = postgresql.insert(_RUNS) if not db.is_sqlite else sqlite.insert(_RUNS)
    statement = insert.values(values).on_conflict_do_update(
        index_elements=[_RUNS.c.job, _RUNS.c.tick],
        set_={
            "owner": insert.excluded.owner,
            "attempt": _RUNS.c.attempt + 1,
            "started_at": insert.excluded.started_at,
            "lease_until": insert.excluded.lease_until,
        },
        # Taken over only from an owner that did not finish and whose lease has run out.
        where=sa.and_(_RUNS.c.finished_at.is_(None), _RUNS.c.lease_until < now),
    )
    with db.core_write() as tx:
        conn = tx.connection()
        row = conn.execute(statement.returning(_RUNS.c.attempt)).first()
        tx.commit()
    if row is None:
        return None
    return Claim(job, tick, int(row.attempt))


def finish(db: Database, done: Claim, *, owner: str = OWNER) -> None:
    """Marks the claimed tick finished (only if this owner still holds it)."""
    now = utcnow()
    with db.core_write() as tx:
        conn = tx.connection()
        conn.execute(
            sa.update(_RUNS)
            .where(_RUNS.c.job == done.job, _RUNS.c.tick == done.tick, _RUNS.c.owner == owner)
            .values(finished_at=now)
        )
        # Old ticks are of no use any more; keeping the table small keeps the claim cheap.
        conn.execute(
            sa.delete(_RUNS).where(
                _RUNS.c.job == done.job,
                _RUNS.c.started_at < now - dt.timedelta(days=KEEP_DAYS),
            )
        )
        tx.commit()


def run_once(
    db: Database,
    job: str,
    interval: float,
    work: Callable[[], object],
    *,
    lease: float | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Runs ``work`` if this process wins the current tick of ``job``; True if it ran.
    ``lease``: how long the others wait before taking the tick over (default: half the
    interval, so that a dead owner's round is run again within its tick; a round that
    takes longer may run twice, which the jobs allow: they are idempotent)."""
    tick = tick_of(interval, now)
    got = claim(db, job, tick, lease if lease is not None else interval / 2, now=now)
    if got is None:
        return False
    if got.attempt > 1:
        log.warning("job %s: tick %d taken over (attempt %d)", job, tick, got.attempt)
    work()
    finish(db, got)
    JOBS_RUN[job] = JOBS_RUN.get(job, 0) + 1
    return True


class PeriodicJob:
    """A thread that tries ``work`` every ``poll`` seconds, running it once per tick of
    ``interval`` across all replicas (the first poll after ``first_delay``). A replica that
    loses the tick polls again: if the winner dies, its tick is taken over after the lease."""

    def __init__(
        self,
        db: Database,
        job: str,
        work: Callable[[], object],
        *,
        interval: float,
        first_delay: float = 0.0,
        poll: float | None = None,
        lease: float | None = None,
    ) -> None:
        self.db = db
        self.job = job
        self.work = work
        self.interval = interval
        self.first_delay = first_delay
        self.poll = poll if poll is not None else min(interval, 60.0)
        self.lease = lease
        self.runs = 0  # rounds this process ran (metrics: inventar_jobs_run_total)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeriodicJob:
        self._thread = threading.Thread(target=self._run, name=f"job-{self.job}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.first_delay
        while not self._stop.wait(delay):
            started = time.monotonic()
            try:
                if run_once(self.db, self.job, self.interval, self.work, lease=self.lease):
                    self.runs += 1
            except Exception:
                log.exception("job %s failed; next try in %.0f s", self.job, self.poll)
            delay = max(0.0, self.poll - (time.monotonic() - started))
