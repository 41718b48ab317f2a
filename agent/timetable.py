"""The service's timetable: periodic jobs with per-run jitter, and one-off jobs, run one at a
time in the calling thread on the wall clock (the standard library's ``sched``).

A periodic job's runs lie on slots ``first_run + k * interval``, each run a random moment
in ``[slot, slot + jitter]``. After a run, the next is the first slot still ahead: runs
missed while the machine slept, or while a long job ran, are run once, not one after the
other. A one-off job (``once``) replaces a queued one of the same name.

Waits are at most ``MAX_WAIT_S`` long and the wall clock is read after each, so a laptop
waking from sleep runs what fell due meanwhile within a minute (a monotonic wait stands
still while the machine sleeps). ``stop`` may be called from a signal handler: it only sets
a flag, and interrupts a wait by raising in the sleep it interrupted; a running job is not
interrupted, the timetable ends after it.
"""

from __future__ import annotations

import contextlib
import math
import random
import sched
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_WAIT_S = 60.0


@dataclass(frozen=True)
class Slots:
    """When a periodic job runs: slots ``first_run + k * interval_s``, plus jitter each."""

    first_run: float  # epoch seconds
    interval_s: float
    jitter_s: float = 0.0

    def slot_after(self, now: float) -> float:
        """The first slot later than ``now`` (the first run, if that is still ahead)."""
        if now < self.first_run:
            return self.first_run
        return self.first_run + (math.floor((now - self.first_run) / self.interval_s) + 1) * (
            self.interval_s
        )

    def fire(self, slot: float, rng: random.Random) -> float:
        return slot + rng.uniform(0.0, self.jitter_s) if self.jitter_s > 0 else slot


class _Wake(Exception):
    """Raised by stop() in the signal handler that interrupted a wait."""


class Timetable:
    def __init__(
        self,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rng = rng or random.Random()
        self._clock = clock
        self._sleep = sleep
        self._sched = sched.scheduler(clock, self._wait)
        self._events: dict[str, sched.Event] = {}
        self._stopping = False
        self._waiting = False

    # -- jobs --------------------------------------------------------------------------

    def every(self, name: str, slots: Slots, fn: Callable[[], None], first: float) -> None:
        """Runs ``fn`` first at ``first`` (epoch seconds), then on ``slots``."""

        def run() -> None:
            try:
                fn()
            finally:
                if not self._stopping:
                    after = self._clock()
                    self._enter(name, slots.fire(slots.slot_after(after), self._rng), run)

        self._enter(name, first, run)

    def once(self, name: str, at: float, fn: Callable[[], None]) -> None:
        """Runs ``fn`` once at ``at``, replacing a queued one-off job of this name."""

        def run() -> None:
            self._events.pop(name, None)
            fn()

        self._enter(name, at, run)

    def next_runs(self) -> dict[str, float]:
        """Each queued job's next run (epoch seconds)."""
        return {name: event.time for name, event in self._events.items()}

    def _enter(self, name: str, at: float, action: Callable[[], None]) -> None:
        queued = self._events.pop(name, None)
        if queued is not None:
            with contextlib.suppress(ValueError):  # it is the one running now
                self._sched.cancel(queued)
        self._events[name] = self._sched.enterabs(at, 0, action)

    # -- running -----------------------------------------------------------------------

    def run(self) -> None:
        """Runs the jobs as they fall due until stop() (or until none is queued)."""
        with contextlib.suppress(_Wake):
            self._sched.run()
        for event in list(self._sched.queue):
            self._sched.cancel(event)
        self._events.clear()

    def stop(self) -> None:
        """Ends run() after the running job, or now if it waits. Safe in a signal handler
        (the handler runs in this thread: no lock is taken)."""
        self._stopping = True
        if self._waiting:
            raise _Wake

    def _wait(self, delay: float) -> None:
        if self._stopping:
            raise _Wake
        if delay <= 0:
            return
        self._waiting = True
        try:
            self._sleep(min(delay, MAX_WAIT_S))
        finally:
            self._waiting = False
