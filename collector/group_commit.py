"""Group commit for PostgreSQL: one writer thread stores queued reports, several per
transaction, and answers each only after its transaction committed.

A report's statements take a few round trips and little work each; what costs is the
commit (a WAL flush: ``synchronous_commit`` stays on, an acknowledged report survives a
crash) and the connection's turn-arounds. Requests queue their decoded report here; the
thread takes up to MAX_BATCH of them (at most one per host, so that a host's second report
sees the first's writes as it would in its own transaction), stores each with
collector.ingest.store_decoded in one transaction and commits once. A refused report
(BadReport: revoked, need_full, ...) writes nothing and is answered alone. A database error
aborts the transaction: then every report of the batch is stored again in its own
transaction, so one report's trouble is never another's. While one batch commits, the
next requests queue: the busier the collector, the more reports share a commit.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from collector.db import CoreWrite, Database
from collector.findings import notify
from collector.ingest import AgentIdentity, StoreResult, store_decoded
from collector.report_decoding import BadReport, DecodedReport

log = logging.getLogger(__name__)

MAX_BATCH = 64


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
    """The writer of one collector process on PostgreSQL."""

    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(
        self, agent: AgentIdentity, decoded: DecodedReport
    ) -> concurrent.futures.Future[StoreResult]:
        """Queues a report; the future holds its StoreResult (or its BadReport) once its
        transaction committed."""
        job = _Job(agent, decoded)
        with self._cond:
            if self._stopping:
                raise RuntimeError("the collector is stopping")
            self._queue.append(job)
            self._cond.notify()
        return job.future

    def stop(self, timeout: float = 10.0) -> None:
        """Stores what is queued, then ends the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._take()
            try:
                self._store(batch)
            except Exception as exc:  # never leave a request waiting
                log.exception("group commit failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _take(self) -> list[_Job]:
        """Up to max_batch queued jobs, one per host; the others keep their place."""
        batch: list[_Job] = []
        hosts: set[tuple[int, str]] = set()
        later: list[_Job] = []
        while self._queue and len(batch) < self.max_batch:
            job = self._queue.popleft()
            if job.host in hosts:
                later.append(job)
            else:
                hosts.add(job.host)
                batch.append(job)
        self._queue.extendleft(reversed(later))
        return batch

    def _store(self, batch: list[_Job]) -> None:
        outcomes: list[StoreResult | BadReport] = []
        try:
            with self.db.core_write() as tx:
                for job in batch:
                    try:
                        outcomes.append(self._one(tx, job, commit=False))
                    except BadReport as exc:
                        outcomes.append(exc)
                tx.commit()
        except Exception:
            log.warning("a batch of %d reports failed; storing each alone", len(batch),
                        exc_info=True)  # fmt: skip
            outcomes = []
            for job in batch:
                try:
                    with self.db.core_write() as tx:
                        outcomes.append(self._one(tx, job, commit=True))
                except BadReport as exc:
                    outcomes.append(exc)
                except Exception as exc:
                    job.future.set_exception(exc)
                    outcomes.append(BadReport(500, "not stored"))
        for job, outcome in zip(batch, outcomes, strict=True):
            if job.future.done():
                continue
            if isinstance(outcome, BadReport):
                job.future.set_exception(outcome)
            else:
                if outcome.status == "stored":
                    notify(self.db, outcome.host_id)
                job.future.set_result(outcome)

    @staticmethod
    def _one(tx: CoreWrite, job: _Job, *, commit: bool) -> StoreResult:
        agent = job.agent
        return store_decoded(
            tx,
            job.decoded,
            site_id=agent.site_id,
            org_id=agent.org_id,
            agent_id=agent.id,
            commit=commit,
        )
