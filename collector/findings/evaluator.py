"""The background evaluator: ingest only queues a host id; one thread evaluates in batches.

Ingest must stay fast, so a report is never evaluated inside its request: after a report is
stored, :func:`notify` puts the host id into an in-process set (cheap: a lock and a set
insert). One thread per collector process (started and stopped with the app's lifespan)
waits ``settle`` seconds after the first notification - a host sending twice is evaluated
once - then evaluates up to ``batch_size`` hosts per transaction with
:func:`collector.findings.store.evaluate_hosts`.

The same thread does the periodic work every ``interval`` seconds (and once at start):
reload the packs and re-evaluate every host when their digest differs from the one stored in
the database; re-evaluate hosts whose waiver expired or was removed; evaluate hosts that have
a report but no findings (stored while no evaluator ran, e.g. a crash lost the queue).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from collector import reference_cache
from collector.current_state import refresh_facts_if_changed
from collector.db import Database
from collector.findings import devices, store
from collector.models import utcnow
from collector.policy import Policies, PolicyLoadError, PolicySet
from collector.policy.batch import EvaluationPool
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


class Evaluator:
    def __init__(
        self,
        db: Database,
        policies_dir: Path | None = None,
        *,
        interval: float = 60.0,
        settle: float = SETTLE_SECONDS,
        batch_size: int = store.BATCH_SIZE,
    ) -> None:
        self.db = db
        self.policies_dir = policies_dir or default_policies_dir()
        self.interval = interval
        self.settle = settle
        self.batch_size = batch_size
        self.policies: Policies | None = None
        # Worker processes for re-evaluating every host after a pack change (started then,
        # kept for the next one; one per core, none on a single core).
        self.pool = EvaluationPool()
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
        self.pool.close()
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
                batch = list(self._pending)[: self.batch_size]
                for host_id in batch:
                    del self._pending[host_id]
                device_batch = list(self._pending_devices)[: devices.BATCH_SIZE]
                for device_id in device_batch:
                    del self._pending_devices[device_id]
                if self._pending or self._pending_devices:
                    self._first_pending = time.monotonic() - self.settle  # no more waiting
            if maintenance:
                next_tick = time.monotonic() + self.interval
                self._guard(self.maintenance)
            if batch:
                self._guard(functools.partial(self._evaluate, batch))
            if device_batch:
                self._guard(functools.partial(self._evaluate_devices, device_batch))

    def _guard(self, work: Callable[[], None]) -> None:
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

    def _evaluate(self, host_ids: list[int]) -> None:
        policies = self._current()
        if policies is None:
            return
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

    def _evaluate_devices(self, device_ids: list[int]) -> None:
        policies = self._current()
        if policies is not None:
            devices.evaluate_devices(self.db, device_ids, policies)

    def maintenance(self) -> None:
        """Pack reload and re-evaluation, waiver expiry, hosts never evaluated."""
        fresh = self.policies is None
        policies = self._current()
        if policies is None:
            return
        if not fresh and self.policies is not None:
            error = self.policies.reload()
            if error is not None:
                log.error("policy packs changed but do not load; keeping the last good set: %s",
                          error)  # fmt: skip
            policies = self.policies.current
        # The stored derived facts follow the reference data first, so that the evaluation
        # (and ingest from now on) judges by the same data.
        digest = reference_digest(policies.directory)
        reference_cache.use(policies.directory, digest, policies.reference)
        if refresh_facts_if_changed(self.db, digest, policies.reference):
            store.store_digest(self.db, "")  # facts changed: every host is evaluated again
        if store.reevaluate_if_changed(self.db, policies, pool=self.pool) is not None:
            devices.evaluate_devices(self.db, devices.all_device_ids(self.db), policies)
            return
        hosts = set(store.expired_waiver_host_ids(self.db, utcnow().date()))
        hosts.update(store.unevaluated_host_ids(self.db))
        if hosts:
            store.evaluate_hosts(self.db, hosts, policies, batch_size=self.batch_size)
        found = set(devices.expired_waiver_device_ids(self.db, utcnow().date()))
        found.update(devices.unevaluated_device_ids(self.db))
        if found:
            devices.evaluate_devices(self.db, found, policies)


def start_evaluator(db: Database, policies_dir: Path | None = None) -> Evaluator:
    """Start the background evaluator for ``db`` (the app's lifespan calls this)."""
    return Evaluator(db, policies_dir).start()
