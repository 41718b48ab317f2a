"""Group commit: a writer thread stores queued reports, several per transaction, and
answers each only after its transaction committed.

A report's statements take little work each; what costs is the commit (a WAL flush:
``synchronous_commit`` stays on, an acknowledged report survives a crash) and the round
trips. Requests queue their decoded report here; a writer thread takes up to MAX_BATCH of
them, at most one per host and none of a host another thread is storing (so that a host's
next report sees the writes of the one before, as in its own transaction), stores each with
collector.ingest.store_decoded in one transaction, the writes every report makes (sections,
host row, receipt) gathered into one statement each (collector.ingest.Writes), and commits
once. A refused report (BadReport: revoked, need_full, ...) writes nothing and is answered
alone. A database error aborts the transaction: then every report of the batch is stored
again in its own transaction, so one report's trouble is never another's. While batches
commit, the next requests queue: the busier the collector, the more reports share a commit.
On SQLite the writer holds the one-writer lock (collector.db) for its batch.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import deque
from dataclasses import dataclass, field

import sqlalchemy as sa

from collector.db import CoreWrite, Database
from collector.findings import notify
from collector.ingest import AgentIdentity, Lookup, StoreResult, Writes, store_decoded
from collector.report_decoding import BadReport, DecodedReport

log = logging.getLogger(__name__)

MAX_BATCH = 64
# One writer: on 2 cores three PostgreSQL writers overlapped their round trips but cost 20 %
# more CPU per report (the GIL) for no more reports a second (benchmarks/ingest.py); SQLite
# has one writer at a time anyway.
WRITERS = 1


class WriterStopping(RuntimeError):
    """The collector is shutting down: the report is not taken (answered 503)."""


@dataclass
class _Job:
    agent: AgentIdentity
    decoded: DecodedReport
    future: concurrent.futures.Future[StoreResult] = field(
        default_factory=concurrent.futures.Future
    )

    @property
    def host(self) -> tuple[int, str]:
        return self.agent.org_id, self.decoded.machine_id


class GroupCommit:
    """The writer(s) of one collector process."""

    def __init__(self, db: Database, *, writers: int = WRITERS, max_batch: int = MAX_BATCH):
        self.db = db
        self.max_batch = max_batch
        self._queue: deque[_Job] = deque()
        self._busy_hosts: set[tuple[int, str]] = set()  # in a batch being stored
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._run, name=f"group-commit-{i}", daemon=True)
            for i in range(writers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, agent: AgentIdentity, decoded: DecodedReport
    ) -> concurrent.futures.Future[StoreResult]:
        """Queues a report; the future holds its StoreResult (or its BadReport) once its
        transaction committed."""
        job = _Job(agent, decoded)
        with self._cond:
            if self._stopping:
                raise WriterStopping("the collector is stopping")
            self._queue.append(job)
            self._cond.notify()
        return job.future

    def stop(self, timeout: float = 10.0) -> None:
        """Stores what is queued, then ends the threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        conn: sa.Connection | None = None
        try:
            while True:
                with self._cond:
                    batch = self._take()
                    while not batch and not (self._stopping and not self._queue):
                        self._cond.wait()
                        batch = self._take()
                    if not batch:
                        return
                try:
                    conn = self._store(conn, batch)
                except Exception as exc:  # never leave a request waiting
                    log.exception("group commit failed")
                    for job in batch:
                        if not job.future.done():
                            job.future.set_exception(exc)
                finally:
                    with self._cond:
                        self._busy_hosts.difference_update(job.host for job in batch)
                        self._cond.notify_all()
        finally:
            if conn is not None:
                conn.close()

    def _take(self) -> list[_Job]:
        """Up to max_batch queued jobs, one per host and none of a busy host; the others
        keep their place. Called with the lock held."""
        batch: list[_Job] = []
        later: list[_Job] = []
        while self._queue and len(batch) < self.max_batch:
            job = self._queue.popleft()
            if job.host in self._busy_hosts:
                later.append(job)
            else:
                self._busy_hosts.add(job.host)
                batch.append(job)
        self._queue.extendleft(reversed(later))
        return batch

    def _store(self, conn: sa.Connection | None, batch: list[_Job]) -> sa.Connection | None:
        """Stores a batch on the thread's own connection (kept between batches: no pool
        checkout and ping per batch); returns the connection to use next."""
        outcomes: list[StoreResult | BadReport] = []
        try:
            if conn is None or conn.closed or conn.invalidated:
                conn = self.db.engine.connect()
            tx = CoreWrite(conn)
            writes = Writes()
            with self.db.write_lock():
                lookup = Lookup.read(
                    conn, [(job.agent.org_id, job.agent.id, job.decoded) for job in batch]
                )
                for job in batch:
                    try:
                        outcomes.append(self._one(tx, job, writes, lookup))
                    except BadReport as exc:
                        outcomes.append(exc)
                writes.flush(conn)
                tx.commit()
        except Exception:
            log.warning("a batch of %d reports failed; storing each alone", len(batch),
                        exc_info=True)  # fmt: skip
            if conn is not None:
                conn.invalidate()
                conn.close()
            conn = None
            outcomes = [self._alone(job) for job in batch]
        for job, outcome in zip(batch, outcomes, strict=True):
            if job.future.done():
                continue
            if isinstance(outcome, BadReport):
                job.future.set_exception(outcome)
            else:
                if outcome.status == "stored":
                    notify(self.db, outcome.host_id)
                job.future.set_result(outcome)
        return conn

    def _alone(self, job: _Job) -> StoreResult | BadReport:
        try:
            with self.db.core_write() as tx:
                return self._one(tx, job, None, None)
        except BadReport as exc:
            return exc
        except Exception as exc:
            job.future.set_exception(exc)
            return BadReport(500, "not stored")

    @staticmethod
    def _one(tx: CoreWrite, job: _Job, writes: Writes | None, lookup: Lookup | None) -> StoreResult:
        agent = job.agent
        return store_decoded(
            tx,
            job.decoded,
            site_id=agent.site_id,
            org_id=agent.org_id,
            agent_id=agent.id,
            commit=writes is None,
            writes=writes,
            lookup=lookup,
        )
