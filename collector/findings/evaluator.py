"""The background evaluator: ingest only wakes it; one thread evaluates in batches.

Ingest must stay fast, so a report is never evaluated inside its request: after a report is
stored, :func:`notify` wakes this process's evaluator (cheap: a lock and a set insert). What
is due is kept in the database, not in memory (collector.findings.queue: a host is due while
its evaluated report differs from its latest), so a crash loses no evaluation and replicas
share the work. One thread per collector process (started and stopped with the app's
lifespan) waits ``settle`` seconds after the first notification - a host sending twice is
evaluated once - then claims up to ``batch_size`` due hosts at a time, with a lease, and
evaluates them with :func:`collector.findings.store.evaluate_hosts`. Every ``interval`` it
also looks for due hosts unasked (other replicas' expired leases).

The same thread does the periodic work every ``interval`` seconds (and once at start):
reload its packs; and, once per tick across all replicas (collector.jobs), re-evaluate every
host when the packs' digest differs from the one stored in the database and re-evaluate
hosts whose waiver expired or was removed.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from collector import jobs, reference_cache
from collector.current_state import refresh_facts_if_changed
from collector.db import Database
from collector.findings import devices, queue, store
from collector.models import utcnow
from collector.policy import Policies, PolicyLoadError, PolicySet
from collector.policy.cli import default_policies_dir
from collector.reference_cache import reference_digest

log = logging.getLogger(__name__)

_evaluators: dict[int, Evaluator] = {}
_registry_lock = threading.Lock()


def notify(db: Database, host_id: int) -> None:
    """Queue ``host_id`` for evaluation by ``db``'s evaluator (no-op when none runs)."""
    evaluator = _evaluators.get(id(db))
    if evaluator is not None:
        evaluator.notify(host_id)


def notify_devices(db: Database, device_ids: list[int]) -> None:
    """Queue discovered devices for evaluation of the device checks (no-op without an
    evaluator)."""
    evaluator = _evaluators.get(id(db))
    if evaluator is not None:
        evaluator.notify_devices(device_ids)


def evaluator_for(db: Database) -> Evaluator | None:
    return _evaluators.get(id(db))


# Findings follow a report within seconds either way; waiting longer collects more hosts into
# one batch and keeps the evaluation (~2 ms a host) from competing with ingest when a whole
# school boots at 07:55 (benchmarks/ingest.py, SQLite: 2 s -> 10 s, 321 -> 360 reports/s).
SETTLE_SECONDS = 10.0
# The job name of the database-wide maintenance in job_runs (collector.jobs).
MAINTENANCE_JOB = "findings-maintenance"


class Evaluator:
    def __init__(
        self,
        db: Database,
        policies_dir: Path | None = None,
        *,
        interval: float = 60.0,
        settle: float = SETTLE_SECONDS,
        batch_size: int = store.BATCH_SIZE,
        lease: float = queue.LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.lease = lease
        self.policies_dir = policies_dir or default_policies_dir()
        self.interval = interval
        self.settle = settle
        self.batch_size = batch_size
        self.policies: Policies | None = None
        self._pending: dict[int, None] = {}  # insertion-ordered set
        self._pending_devices: dict[int, None] = {}
        self._first_pending = 0.0
        self._cond = threading.Condition()
        self._busy = False
        self._flush = False
        self._maintenance_due = True
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- called from other threads ----------------------------------------------------

    def notify(self, host_id: int) -> None:
        with self._cond:
            if not self._pending:
                # Only the first host sets the wake-up time; waking the thread for each
                # further one would cost every report a thread switch.
                self._first_pending = time.monotonic()
                self._cond.notify()
            self._pending[host_id] = None

    def notify_devices(self, device_ids: list[int]) -> None:
        with self._cond:
            if not self._pending and not self._pending_devices:
                self._first_pending = time.monotonic()
                self._cond.notify()
            self._pending_devices.update(dict.fromkeys(device_ids))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued host is evaluated and no work is running (for tests and
        shutdown); skips the settle delay. False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flush = True
            self._cond.notify_all()
            try:
                while self._pending or self._pending_devices or self._busy or self._maintenance_due:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                        return False
                    self._cond.wait(remaining)
            finally:
                self._flush = False
        return True

    def start(self) -> Evaluator:
        with _registry_lock:
            _evaluators[id(self.db)] = self
        self._thread = threading.Thread(target=self._run, name="findings-evaluator", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Evaluate what is queued (bounded by ``timeout``), then end the thread."""
        if self._thread is not None and self._thread.is_alive():
            self.drain(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with _registry_lock:
            if _evaluators.get(id(self.db)) is self:
                del _evaluators[id(self.db)]

    # --- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic()
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                while not self._stopping:
                    now = time.monotonic()
                    if self._maintenance_due or now >= next_tick:
                        break
                    waiting = bool(self._pending or self._pending_devices)
                    if waiting and (self._flush or now >= self._first_pending + self.settle):
                        break
                    wake = next_tick
                    if waiting:
                        wake = min(wake, self._first_pending + self.settle)
                    self._cond.wait(max(0.0, wake - now))
                if self._stopping:
                    return
                self._busy = True
                maintenance = self._maintenance_due or time.monotonic() >= next_tick
                self._maintenance_due = False
                # The hosts themselves are claimed from the database (collector.findings.queue).
                batch = bool(self._pending)
                self._pending.clear()
                device_batch = list(self._pending_devices)[: devices.BATCH_SIZE]
                for device_id in device_batch:
                    del self._pending_devices[device_id]
                if self._pending_devices:
                    self._first_pending = time.monotonic() - self.settle  # no more waiting
            if maintenance:
                next_tick = time.monotonic() + self.interval
                self._guard(self.scheduled_maintenance)
            if batch or maintenance:
                self._guard(self.evaluate_due)
            if device_batch:
                self._guard(functools.partial(self._evaluate_devices, device_batch))

    def _guard(self, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:
            log.exception("findings evaluation failed")

    def _current(self) -> PolicySet | None:
        if self.policies is None:
            try:
                self.policies = Policies(self.policies_dir)
            except PolicyLoadError as exc:
                log.error("policy packs in %s do not load; no findings: %s", self.policies_dir, exc)
                return None
        return self.policies.current

    def evaluate_due(self) -> int:
        """Claims and evaluates due hosts, in one pass through the host ids; how many.

        One pass evaluates a host at most once: a host that reports again while the pass
        runs is due again, and is left to the next pass (after the settle delay, when its
        notification has arrived) instead of being claimed again at once. Without this,
        agents reporting faster than a pass takes kept the thread evaluating without pause
        (benchmarks/ingest.py: ~40 % of the serving process's time, competing with ingest).
        """
        total = 0
        after = 0
        while True:
            policies = self._current()
            if policies is None:
                return total
            claimed = queue.claim(self.db, self.batch_size, self.lease, after=after)
            if not claimed:
                return total
            after = max(claimed)
            failed = self._evaluate(sorted(claimed))
            # A host that failed keeps its lease: tried again once it expires, not in a loop.
            queue.done(self.db, {h: r for h, r in claimed.items() if h not in failed})
            total += len(claimed)

    def _evaluate(self, host_ids: list[int]) -> set[int]:
        """Evaluates the hosts; the ids of those that failed."""
        failed: set[int] = set()
        policies = self._current()
        if policies is None:
            return set(host_ids)
        try:
            store.evaluate_hosts(self.db, host_ids, policies, batch_size=self.batch_size)
            # A host's report may have made a discovered device managed (its MAC).
            devices.evaluate_devices(self.db, devices.device_ids_of_hosts(self.db, host_ids),
                                     policies)  # fmt: skip
        except Exception:
            # One bad host must not keep the others unevaluated: try them one by one.
            log.exception("evaluating a batch of %d hosts failed; trying each", len(host_ids))
            for host_id in host_ids:
                try:
                    store.evaluate_hosts(self.db, [host_id], policies)
                except Exception:
                    log.exception("evaluating host %s failed", host_id)
                    failed.add(host_id)
        return failed

    def _evaluate_devices(self, device_ids: list[int]) -> None:
        policies = self._current()
        if policies is not None:
            devices.evaluate_devices(self.db, device_ids, policies)

    def scheduled_maintenance(self) -> None:
        """The thread's round: this process's pack reload; the database-wide part once per
        tick across replicas (collector.jobs)."""
        policies = self._reload()
        if policies is not None:
            jobs.run_once(self.db, MAINTENANCE_JOB, self.interval,
                          functools.partial(self.reevaluate, policies))  # fmt: skip

    def maintenance(self) -> None:
        """Pack reload and the database-wide part now, whether another replica ran it this
        tick or not (tests, the CLI)."""
        policies = self._reload()
        if policies is not None:
            self.reevaluate(policies)

    def _reload(self) -> PolicySet | None:
        fresh = self.policies is None
        policies = self._current()
        if policies is None:
            return None
        if not fresh and self.policies is not None:
            error = self.policies.reload()
            if error is not None:
                log.error("policy packs changed but do not load; keeping the last good set: %s",
                          error)  # fmt: skip
            policies = self.policies.current
        # This process's decoding follows the packs' reference data.
        reference_cache.use(policies.directory, reference_digest(policies.directory),
                            policies.reference)  # fmt: skip
        return policies

    def reevaluate(self, policies: PolicySet) -> None:
        """Re-evaluation of every host when packs or reference data changed, waiver expiry."""
        # The stored derived facts follow the reference data first, so that the evaluation
        # (and ingest from now on) judges by the same data.
        digest = reference_digest(policies.directory)
        if refresh_facts_if_changed(self.db, digest, policies.reference):
            store.store_digest(self.db, "")  # facts changed: every host is evaluated again
        if store.reevaluate_if_changed(self.db, policies) is not None:
            devices.evaluate_devices(self.db, devices.all_device_ids(self.db), policies)
            return
        hosts = set(store.expired_waiver_host_ids(self.db, utcnow().date()))
        if hosts:
            store.evaluate_hosts(self.db, hosts, policies, batch_size=self.batch_size)
        found = set(devices.expired_waiver_device_ids(self.db, utcnow().date()))
        found.update(devices.unevaluated_device_ids(self.db))
        if found:
            devices.evaluate_devices(self.db, found, policies)


def start_evaluator(
    db: Database, policies_dir: Path | None = None, *, settle: float = SETTLE_SECONDS
) -> Evaluator:
    """Start the background evaluator for ``db`` (the app's lifespan calls this)."""
    return Evaluator(db, policies_dir, settle=settle).start()
