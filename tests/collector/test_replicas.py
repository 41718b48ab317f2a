"""Several collectors on one database (collector.jobs, collector.findings.queue,
collector.ssh.schedule): a tick runs once across processes, a dead owner's tick and leases
are taken over after the lease, concurrent claims never hand out the same host or target."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector import jobs
from collector.db import Database
from collector.findings import evaluator_for, queue
from collector.models import HostEvaluation, JobRun, SshTarget, table_of, utcnow
from collector.services import add_site
from collector.ssh import schedule
from tests.collector.conftest import Env
from tests.collector.helpers import make_report, postgres_schema

INTERVAL = 0.25  # seconds per tick in the multi-process test


def _ticker(url: str, seconds: float) -> None:
    """One 'replica': tries the job's current tick in a tight loop for ``seconds``."""
    import time

    db = Database(url, pool_size=2)
    log = sa.table("tick_log", sa.column("tick"), sa.column("pid"))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = utcnow()

        def work(now: dt.datetime = now) -> None:
            with db.engine.begin() as conn:
                conn.execute(
                    sa.insert(log).values(tick=jobs.tick_of(INTERVAL, now), pid=os.getpid())
                )

        jobs.run_once(db, "test-tick", INTERVAL, work, lease=30.0, now=now)
        time.sleep(0.005)
    db.dispose()


def test_each_tick_runs_once_across_three_processes() -> None:
    with postgres_schema() as url:
        db = Database(url)
        db.upgrade()
        with db.engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE tick_log (tick bigint, pid integer)"))
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=_ticker, args=(url, 2.5)) for _ in range(3)]
        for p in processes:
            p.start()
        for p in processes:
            p.join(60)
            assert p.exitcode == 0
        with db.engine.connect() as conn:
            ticks = [row.tick for row in conn.execute(sa.text("SELECT tick FROM tick_log"))]
            pids = {row.pid for row in conn.execute(sa.text("SELECT pid FROM tick_log"))}
            runs = conn.execute(
                sa.text(
                    "SELECT count(*) FROM job_runs WHERE job = 'test-tick' "
                    "AND finished_at IS NOT NULL"
                )
            ).scalar_one()
        db.dispose()
    # 2.5 s of 0.25 s ticks: about ten ticks (the processes start at different moments),
    # each run exactly once although three processes tried it hundreds of times.
    assert len(ticks) >= 5
    assert len(ticks) == len(set(ticks)) == runs
    assert pids <= {p.pid for p in processes}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
        database.upgrade()
        yield database
        database.dispose()
        return
    with postgres_schema() as url:
        database = Database(url)
        database.upgrade()
        yield database
        database.dispose()


def test_a_dead_owners_tick_is_taken_over_after_its_lease(db: Database) -> None:
    t0 = dt.datetime(2026, 12, 7, 7, 55, tzinfo=dt.UTC)
    tick = jobs.tick_of(60, t0)
    first = jobs.claim(db, "retention", tick, lease=5, owner="a", now=t0)
    assert first == jobs.Claim("retention", tick, 1)
    # 'a' died without finishing: within its lease nobody else runs the tick ...
    assert (
        jobs.claim(db, "retention", tick, lease=5, owner="b", now=t0 + dt.timedelta(seconds=4))
        is None
    )
    # ... after it, one other replica does (a second attempt), and only one.
    later = t0 + dt.timedelta(seconds=6)
    taken = jobs.claim(db, "retention", tick, lease=5, owner="b", now=later)
    assert taken == jobs.Claim("retention", tick, 2)
    assert jobs.claim(db, "retention", tick, lease=5, owner="c", now=later) is None
    jobs.finish(db, taken, owner="b")
    # A finished tick is never run again, however late; the next tick is free.
    assert (
        jobs.claim(db, "retention", tick, lease=5, owner="c", now=t0 + dt.timedelta(hours=1))
        is None
    )
    assert jobs.claim(db, "retention", tick + 1, lease=5, owner="c", now=later) is not None


def test_the_finish_of_an_owner_that_lost_its_tick_changes_nothing(db: Database) -> None:
    t0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
    slow = jobs.claim(db, "j", 1, lease=1, owner="slow", now=t0)
    assert slow is not None
    fast = jobs.claim(db, "j", 1, lease=1, owner="fast", now=t0 + dt.timedelta(seconds=2))
    assert fast is not None and fast.attempt == 2
    jobs.finish(db, slow, owner="slow")  # too late: 'fast' holds the tick
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(table_of(JobRun))).one()
    assert row.owner == "fast" and row.finished_at is None


# --- the durable findings queue ---------------------------------------------------------------


@pytest.fixture
def quiet(env: Env) -> Env:
    """The app without its evaluator thread, so that the test claims the hosts itself."""
    evaluator = evaluator_for(env.db)
    assert evaluator is not None
    evaluator.stop()
    return env


def _send(env: Env, machine: str, software: int = 3) -> str:
    if machine not in env.agents:
        env.enroll(machine)
    report = make_report(machine, f"pc-{machine}", software=software)
    r = env.post(env.agents[machine][1], report)
    assert r.status_code == 201, r.text
    return str(report["report_id"])


def test_due_hosts_are_claimed_once_and_stay_due_until_evaluated(quiet: Env) -> None:
    env = quiet
    sent = {m: _send(env, m) for m in ("q1", "q2", "q3")}
    assert queue.due_count(env.db) == 3
    t0 = utcnow()
    first = queue.claim(env.db, 2, lease=60, now=t0)
    assert set(first.values()) <= set(sent.values())
    assert len(first) == 2
    second = queue.claim(env.db, 10, lease=600, now=t0)
    assert len(second) == 1 and not set(first) & set(second)
    assert queue.claim(env.db, 10, lease=60, now=t0) == {}
    # The first claimer crashed: its hosts are claimable again once the lease has expired.
    again = queue.claim(env.db, 10, lease=60, now=t0 + dt.timedelta(seconds=61))
    assert again == first
    queue.done(env.db, {**again, **second})
    assert queue.due_count(env.db) == 0
    # A newer report that changes something makes the host due again; the evaluated report
    # id is what was claimed.
    newer = _send(env, "q1", software=4)
    ((host_id, report_id),) = queue.claim(env.db, 10, lease=60).items()
    assert report_id == newer and report_id != sent["q1"]
    assert host_id in {**first, **second}


def _evaluation(env: Env, machine: str) -> tuple[str, str]:
    """(the host's latest report id, the report id its findings were evaluated from)."""
    with env.db.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT h.last_report_id, e.evaluated_report_id FROM hosts h "
                "JOIN host_evaluations e ON e.host_id = h.id WHERE h.machine_id = :m"
            ),
            {"m": machine},
        ).one()
    return str(row[0]), str(row[1])


def _set_evaluation(env: Env, **values: object) -> None:
    table = table_of(HostEvaluation)
    with env.db.engine.begin() as conn:
        conn.execute(sa.update(table).values(**values))


def test_a_report_that_changes_nothing_counts_as_evaluated_that_day(quiet: Env) -> None:
    env = quiet
    _send(env, "u1")
    queue.done(env.db, queue.claim(env.db, 10))
    assert queue.due_count(env.db) == 0
    # The same state again (a wired PC's status report): evaluated, as the one before it.
    again = _send(env, "u1")
    assert queue.due_count(env.db) == 0
    assert _evaluation(env, "u1") == (again, again)
    # A changed section: due.
    changed = _send(env, "u1", software=5)
    assert queue.due_count(env.db) == 1
    claimed = queue.claim(env.db, 10)
    assert list(claimed.values()) == [changed]
    queue.done(env.db, claimed)
    assert queue.due_count(env.db) == 0
    # Evaluated before today (UTC): the date-bound checks (days pending, support left) may
    # judge otherwise now, so an unchanged report is evaluated.
    yesterday = utcnow() - dt.timedelta(days=1)
    _set_evaluation(env, evaluated_at=yesterday)
    _send(env, "u1", software=5)
    assert queue.due_count(env.db) == 1
    queue.done(env.db, queue.claim(env.db, 10))
    # Claimed by an evaluator right now: its result will be of the report before, so an
    # unchanged report stays due.
    _set_evaluation(env, lease_until=utcnow() + dt.timedelta(seconds=60))
    _send(env, "u1", software=5)
    assert queue.due_count(env.db) == 1


def test_concurrent_claims_on_postgres_never_share_a_host(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from collector.main import create_app
    from collector.services import add_site, create_enroll_secret
    from collector.settings import Settings

    with postgres_schema() as url:
        db = Database(url)
        db.upgrade()
        with db.session() as s:
            add_site(s, "GS Nord", "school")
            secret = create_enroll_secret(s, "GS Nord")
        app = create_app(Settings(database_url=url, decode_workers=0), db)
        with TestClient(app) as client:
            evaluator = evaluator_for(db)
            assert evaluator is not None
            evaluator.stop()
            env = Env(db, client, secret, "", "", "")
            for i in range(40):
                _send(env, f"c{i}")
            results: list[dict[int, str]] = []
            barrier = threading.Barrier(4)

            def claimer() -> None:
                barrier.wait()
                while got := queue.claim(db, 3, lease=60):
                    results.append(got)

            threads = [threading.Thread(target=claimer) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        claimed = [h for r in results for h in r]
        db.dispose()
    assert len(claimed) == 40 and len(set(claimed)) == 40


def test_a_new_evaluator_evaluates_what_a_crashed_one_left(quiet: Env) -> None:
    """The queue is in the database: a report stored while no evaluator ran (a crash lost
    the process) is evaluated by the next evaluator that starts, unasked."""
    from collector.findings import Evaluator

    _send(quiet, "lost")
    assert queue.due_count(quiet.db) == 1
    evaluator = Evaluator(quiet.db).start()
    try:
        assert evaluator.drain(60)
    finally:
        evaluator.stop()
    assert queue.due_count(quiet.db) == 0
    with quiet.db.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM findings")).scalar_one()
    assert count > 0


def test_one_pass_evaluates_a_host_once_though_it_reports_again_meanwhile(quiet: Env) -> None:
    """A host that reports again while a pass runs is left to the next pass: agents that
    report faster than a pass takes must not keep the evaluator busy without pause."""
    from collector.findings import Evaluator

    for machine in ("p1", "p2", "p3"):
        _send(quiet, machine)
    evaluator = Evaluator(quiet.db, batch_size=1)
    evaluated: list[int] = []
    evaluate = evaluator._evaluate

    def evaluate_and_report_again(host_ids: list[int]) -> set[int]:
        if not evaluated:
            _send(quiet, "p1")  # the first host evaluated is due again at once
        evaluated.extend(host_ids)
        return evaluate(host_ids)

    evaluator._evaluate = evaluate_and_report_again  # type: ignore[method-assign]
    assert evaluator.evaluate_due() == 3
    assert sorted(evaluated) == sorted(set(evaluated)) and len(evaluated) == 3
    assert queue.due_count(quiet.db) == 1  # p1's newer report: the next pass's
    assert evaluator.evaluate_due() == 1
    assert queue.due_count(quiet.db) == 0


# --- SSH targets shared by replicas ------------------------------------------------------------


def test_ssh_targets_are_shared_by_leases(db: Database, tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("not used")
    with db.session() as s:
        site = add_site(s, "GS Nord", "school")
        assert site.id is not None
        for i in range(5):
            s.add(SshTarget(site_id=site.id, host=f"10.0.0.{i}", user="inv", key_file=str(key)))
        s.commit()
    t0 = utcnow()
    a = schedule.claim_due(db, 3, lease=300, now=t0)
    b = schedule.claim_due(db, 3, lease=300, now=t0)
    assert len(a) == 3 and len(b) == 2 and not set(a) & set(b)
    assert schedule.claim_due(db, 3, lease=300, now=t0) == []
    for target in a:
        schedule.reschedule(db, target, interval=3600)
    # b's replica died: its targets come back after the lease; a's are due in an hour.
    later = schedule.claim_due(db, 10, lease=300, now=t0 + dt.timedelta(seconds=301))
    assert sorted(later) == sorted(b)
    # An hour on, all five are due again (b's second lease has run out too).
    hour = schedule.claim_due(db, 10, lease=300, now=t0 + dt.timedelta(seconds=3700))
    assert sorted(hour) == sorted(a + b)


# --- a replica killed in the middle of a job ---------------------------------------------------

MID_INTERVAL = 4.0  # a tick: room for the takeover within it, also on a loaded machine
MID_LEASE = 1.0  # another replica takes the tick over this long after the claim
MID_WORK = 0.5  # how long a round takes
MID_TAKEOVER_MARGIN = 1.5  # for the others' polls and their round's start on a loaded machine


def _mid_job_replica(url: str, stop: Path, seconds: float) -> None:
    """A 'replica' running the job thread of collector.jobs; a round logs its start, works
    MID_WORK seconds, logs its end. It stops (finishing a round it is in) once the file
    ``stop`` exists, at the latest after ``seconds``. (A file, not a multiprocessing.Event:
    setting an Event waits for every waiter to wake, and the killed one never does.)"""
    import time

    db = Database(url, pool_size=2)
    log = sa.table("mid_log", sa.column("tick"), sa.column("pid"), sa.column("phase"))
    runs = table_of(JobRun)

    def work() -> None:
        with db.engine.begin() as conn:
            tick = conn.execute(
                sa.select(runs.c.tick).where(
                    runs.c.job == "mid", runs.c.owner == jobs.OWNER, runs.c.finished_at.is_(None)
                )
            ).scalar_one()
            conn.execute(sa.insert(log).values(tick=tick, pid=os.getpid(), phase="start"))
        time.sleep(MID_WORK)
        with db.engine.begin() as conn:
            conn.execute(sa.insert(log).values(tick=tick, pid=os.getpid(), phase="end"))

    job = jobs.PeriodicJob(db, "mid", work, interval=MID_INTERVAL, poll=0.05, lease=MID_LEASE)
    job.start()
    end = time.monotonic() + seconds
    while not stop.exists() and time.monotonic() < end:
        time.sleep(0.05)
    job.stop()


def test_a_replica_killed_mid_job_its_tick_runs_once_elsewhere(tmp_path: Path) -> None:
    import signal
    import time

    with postgres_schema() as url:
        db = Database(url)
        db.upgrade()
        with db.engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE mid_log (tick bigint, pid integer, phase text)"))
        context = multiprocessing.get_context("spawn")
        stop = tmp_path / "stop"
        processes = [
            context.Process(target=_mid_job_replica, args=(url, stop, 40.0)) for _ in range(3)
        ]
        for p in processes:
            p.start()
        victim = None
        deadline = time.monotonic() + 30
        while victim is None and time.monotonic() < deadline:
            with db.engine.connect() as conn:
                running = conn.execute(
                    sa.text(
                        "SELECT tick, pid FROM mid_log s WHERE phase = 'start' AND NOT EXISTS "
                        "(SELECT 1 FROM mid_log e WHERE e.phase = 'end' AND e.pid = s.pid "
                        "AND e.tick = s.tick)"
                    )
                ).first()
            # A round that began late in its tick (a replica's first poll after its start can
            # fall anywhere in one) leaves no time for the takeover within the tick: the
            # victim is a round with the lease and a margin for polling still ahead of it.
            left = (running.tick + 1) * MID_INTERVAL - time.time() if running else 0.0
            if running is not None and left > MID_LEASE + MID_TAKEOVER_MARGIN:
                victim = running
                os.kill(running.pid, signal.SIGKILL)  # mid-job
            time.sleep(0.02)
        assert victim is not None
        # The replicas run until the victim's tick has been taken over and finished and
        # another tick has run (what the assertions below look at), not a fixed time.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.engine.connect() as conn:
                ended = {
                    (row.tick, row.pid)
                    for row in conn.execute(
                        sa.text("SELECT tick, pid FROM mid_log WHERE phase = 'end'")
                    )
                }
            if {t for t, _ in ended} - {victim.tick} and any(
                t == victim.tick and pid != victim.pid for t, pid in ended
            ):
                break
            time.sleep(0.1)
        stop.touch()
        for p in processes:
            p.join(60)
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT tick, pid, phase FROM mid_log")).all()
        db.dispose()
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    for tick, pid, phase in rows:
        (starts if phase == "start" else ends).setdefault(tick, []).append(pid)
    # The killed replica's tick: started twice (it, then one other after the lease), ended
    # once, by the other.
    assert victim.pid in starts[victim.tick] and len(starts[victim.tick]) == 2
    assert ends[victim.tick] == [p for p in starts[victim.tick] if p != victim.pid]
    # Every other tick ran once, start to end, in one process.
    others = {t for t in starts if t != victim.tick}
    assert others
    for tick in others:
        assert len(starts[tick]) == 1 and ends.get(tick) == starts[tick], (tick, starts, ends)
