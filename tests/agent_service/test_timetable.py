"""The service's timetable on a simulated wall clock: runs on their slots within the jitter,
missed runs coalesced, one-off jobs replaced by name, waits short enough to notice a
suspended laptop's wake-up, and stop() from a signal handler during a wait or a job."""

from __future__ import annotations

import random

from agent.timetable import MAX_WAIT_S, Slots, Timetable


class Clock:
    """Wall time that advances only when the timetable sleeps or a job takes time."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_periodic_job_runs_on_its_slots_each_within_the_jitter() -> None:
    clock = Clock()
    start = clock.now
    table = Timetable(random.Random(1), clock.time, clock.sleep)
    slots = Slots(start + 100, 900, jitter_s=30)
    runs: list[float] = []

    def job() -> None:
        runs.append(clock.now)
        if len(runs) == 20:
            table.stop()

    table.every("status", slots, job, first=start + 100)
    table.run()
    assert runs[0] == start + 100  # the first run as given
    for k, at in enumerate(runs[1:], start=1):
        slot = start + 100 + k * 900
        assert slot <= at <= slot + 30, (k, at - slot)
    offsets = {round(at - (start + 100 + k * 900), 3) for k, at in enumerate(runs)}
    assert len(offsets) > 10  # the jitter differs from run to run
    assert table.next_runs() == {}  # stopped: nothing left queued


def test_runs_missed_while_a_job_took_long_are_run_once_on_the_next_slot_ahead() -> None:
    clock = Clock()
    table = Timetable(random.Random(2), clock.time, clock.sleep)
    runs: list[float] = []

    def slow() -> None:
        runs.append(clock.now)
        if len(runs) == 1:
            clock.now += 3 * 60 + 10  # the first run took three intervals and more
        if len(runs) == 3:
            table.stop()

    table.every("status", Slots(clock.now, 60), slow, first=clock.now)
    start = clock.now
    table.run()
    assert runs == [start, start + 4 * 60, start + 5 * 60]  # not three runs in a row


def test_a_laptop_waking_from_sleep_runs_what_fell_due_within_a_minute() -> None:
    clock = Clock()
    runs: list[float] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 2:
            clock.now += 8 * 3600  # suspended: the wall clock jumps, the wait did not count
        if runs:
            table.stop()

    table = Timetable(random.Random(3), clock.time, sleep)
    table.every("full", Slots(clock.now + 6 * 3600, 6 * 3600), lambda: runs.append(clock.now),
                first=clock.now + 6 * 3600)  # fmt: skip
    start = clock.now
    table.run()
    assert all(s <= MAX_WAIT_S for s in clock.sleeps)
    assert runs and runs[0] - (start + 2 * MAX_WAIT_S + 8 * 3600) <= MAX_WAIT_S


def test_a_one_off_job_replaces_the_queued_one_of_its_name() -> None:
    clock = Clock()
    table = Timetable(random.Random(4), clock.time, clock.sleep)
    ran: list[str] = []
    table.once("retry", clock.now + 600, lambda: ran.append("first"))
    table.once("retry", clock.now + 30, lambda: ran.append("second"))
    table.once("full-now", clock.now + 40, table.stop)
    assert table.next_runs() == {"retry": clock.now + 30, "full-now": clock.now + 40}
    table.run()
    assert ran == ["second"]


def test_stop_during_a_wait_ends_the_wait_at_once() -> None:
    clock = Clock()
    ran: list[float] = []

    def interrupted(seconds: float) -> None:
        # A signal arrives during the sleep: its handler calls stop() in this thread.
        clock.sleeps.append(seconds)
        table.stop()
        raise AssertionError("stop() did not interrupt the sleep")  # pragma: no cover

    table = Timetable(random.Random(5), clock.time, interrupted)
    table.every("status", Slots(clock.now + 900, 900), lambda: ran.append(clock.now),
                first=clock.now + 900)  # fmt: skip
    table.run()
    assert ran == [] and clock.sleeps == [MAX_WAIT_S]
    assert table.next_runs() == {}


def test_stop_during_a_job_lets_the_job_finish_and_runs_nothing_after_it() -> None:
    clock = Clock()
    table = Timetable(random.Random(6), clock.time, clock.sleep)
    steps: list[str] = []

    def job() -> None:
        steps.append("started")
        table.stop()  # the signal handler, while the job runs: no exception here
        steps.append("finished")

    table.every("status", Slots(clock.now, 60), job, first=clock.now)
    table.once("retry", clock.now, lambda: steps.append("retry"))
    table.run()
    assert steps == ["started", "finished"]
