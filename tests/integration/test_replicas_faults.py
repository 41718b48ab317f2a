"""Fault tests against real processes: `inventar-collector serve` replicas (behind HAProxy or
round-robin here) on a PostgreSQL cluster the test starts on its own port, under the load of
simulated agents that resend every report until it is acknowledged.

What must hold: a report answered 2xx is stored exactly once and each host's normalized rows
are its latest report's; while the database is gone the answer is 503 with Retry-After (an
agent keeps the report), never a 4xx and never a hung request; the collector recovers
without a restart."""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.helpers import make_report
from tests.integration.replicas import (
    Fleet,
    HAProxy,
    PgCluster,
    Replica,
    check_stored_exactly_once,
    post,
    prepare,
    start_all,
    wait_for,
)


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    # Not below pytest's tmp_path: the postgres user (initdb refuses root) must reach it.
    root = Path(tempfile.mkdtemp(prefix="inventar-pg-"))
    os.chmod(root, 0o755)
    pg = PgCluster(root / "pg")
    pg.start()
    try:
        yield pg
    finally:
        pg.close()
        subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


def _replicas(cluster: PgCluster, logs: Path, count: int, **kwargs: object) -> list[Replica]:
    replicas = [Replica(cluster.url(), logs, f"collector-{i}", **kwargs) for i in range(count)]  # type: ignore[arg-type]
    start_all(replicas)
    return replicas


def _stop(replicas: list[Replica]) -> None:
    for replica in replicas:
        replica.stop()


def test_an_oversized_report_gets_a_413_that_urllib_can_read(
    cluster: PgCluster, logs: Path
) -> None:
    prepare(cluster.url())
    (replica,) = _replicas(cluster, logs, 1, env={"INVENTAR_MAX_BODY_BYTES": str(1 << 20)})
    try:
        body = b"x" * (30 << 20)  # 30 MB against a 1 MB limit
        status, _, answer = post(f"{replica.base}/api/v1/reports", body, "inv_agt_x")
        assert status == 413, answer
        assert "exceeds" in answer["detail"]
        # The same for any other route (the small-body limit), by header and while streaming.
        status, _, answer = post(f"{replica.base}/api/v1/enroll", b"{" + b" " * (1 << 20) + b"}")
        assert status == 413, answer
    finally:
        replica.stop()


def test_postgres_restarted_under_load_gives_only_503_and_recovers(
    cluster: PgCluster, logs: Path
) -> None:
    secret = prepare(cluster.url())
    replicas = _replicas(cluster, logs, 2)
    fleet = Fleet([r.base for r in replicas])
    try:
        fleet.enroll(secret, 12)
        fleet.start()
        wait_for("reports before the fault", lambda: fleet.acked() >= 30)
        before = fleet.acked()
        cluster.stop("immediate")
        stopped = time.monotonic()
        # While it is down: a report is answered at once with 503 and Retry-After.
        report = make_report(fleet.agents[0].machine, "x")
        t0 = time.monotonic()
        body = json.dumps(report).encode()
        status, headers, answer = post(
            f"{replicas[0].base}/api/v1/reports", body, fleet.agents[0].token
        )
        assert status == 503, answer
        assert int(headers["retry-after"]) > 0
        assert time.monotonic() - t0 < 10  # answered, not hung
        assert fleet.acked() - before <= 2 * len(fleet.agents)  # nothing new gets in
        time.sleep(max(0.0, 3 - (time.monotonic() - stopped)))
        cluster.start()
        restarted = time.monotonic()
        acked = fleet.acked()
        wait_for("a report stored after the restart", lambda: fleet.acked() > acked + 10, 60)
        recovery = time.monotonic() - restarted
        print(f"\nrecovered {recovery:.2f} s after PostgreSQL accepted connections again")
        fleet.stop()
    finally:
        fleet.stop()
        _stop(replicas)
    print(f"\nanswers: {dict(fleet.statuses)}; acknowledged: {fleet.acked()}")
    assert not fleet.bad, fleet.bad[:5]
    assert fleet.statuses[503] > 0
    assert set(fleet.statuses) <= {200, 201, 503}, fleet.statuses
    check_stored_exactly_once(cluster.url(), fleet)


def test_kill_9_of_a_replica_under_load_loses_no_acknowledged_report(
    cluster: PgCluster, logs: Path
) -> None:
    secret = prepare(cluster.url())
    replicas = _replicas(cluster, logs, 2)
    proxy = HAProxy(logs, replicas)
    fleet = Fleet([proxy.base])
    rng = random.Random(20)
    try:
        fleet.enroll(secret, 16)
        fleet.start()
        wait_for("reports before the fault", lambda: fleet.acked() >= 30)
        for round_ in range(3):
            victim = replicas[round_ % 2]
            time.sleep(rng.uniform(0.2, 1.5))
            victim.kill()  # the server and its decode workers, mid-request
            got = fleet.acked() + 10
            wait_for("reports through the other replica", lambda n=got: fleet.acked() > n, 30)
            victim.start()
        acked = fleet.acked()
        wait_for("reports after the kills", lambda: fleet.acked() > acked + 20, 30)
    finally:
        fleet.stop()
        proxy.stop()
        _stop(replicas)
    print(f"\nanswers: {dict(fleet.statuses)}; acknowledged: {fleet.acked()}")
    assert not fleet.bad, fleet.bad[:5]
    check_stored_exactly_once(cluster.url(), fleet)


def test_the_same_report_sent_to_two_replicas_at_once_is_stored_once(
    cluster: PgCluster, logs: Path
) -> None:
    secret = prepare(cluster.url())
    replicas = _replicas(cluster, logs, 2)
    fleet = Fleet([r.base for r in replicas])
    try:
        fleet.enroll(secret, 4)
        for n in range(10):
            for agent in fleet.agents:
                report = make_report(agent.machine, agent.machine, software=2 + n % 3)
                body = json.dumps(report).encode()
                answers: list[int] = []
                barrier = threading.Barrier(2)
                threads = [
                    threading.Thread(target=_send_at_once,
                                     args=(barrier, answers, r.base, body, agent.token))
                    for r in replicas
                ]  # fmt: skip
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                # One stores it (201), the other finds it stored (200, a duplicate).
                assert sorted(answers) == [200, 201], answers
                agent.acked.append(report)
    finally:
        _stop(replicas)
    check_stored_exactly_once(cluster.url(), fleet)


def _send_at_once(barrier: threading.Barrier, answers: list[int], base: str, body: bytes,
                  token: str) -> None:  # fmt: skip
    barrier.wait()
    answers.append(post(f"{base}/api/v1/reports", body, token)[0])


def _root() -> bool:
    return os.geteuid() == 0


def test_a_full_disk_gives_503_the_agents_keep_their_reports_and_ingest_resumes(
    cluster: PgCluster, logs: Path
) -> None:
    """The database's tables on a small tmpfs (a tablespace; its WAL stays on the cluster's
    disk): when the tmpfs is full, PostgreSQL refuses to extend a table (class 53, disk
    full); once space is freed, ingest goes on."""
    if not _root():
        from tests.needs import missing

        missing("mounting a tmpfs needs root")
    small = cluster.root / "small"
    small.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs", str(small)]
    mounted = subprocess.run(mount, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        from tests.needs import missing

        missing(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    replicas: list[Replica] = []
    fleet = Fleet([])
    try:
        subprocess.run(["chown", "postgres:postgres", str(small)], check=True)
        cluster.execute(f"CREATE TABLESPACE small LOCATION '{small}'",
                        "CREATE DATABASE inv TABLESPACE small")  # fmt: skip
        url = cluster.url("inv")
        secret = prepare(url)
        # Fill the tmpfs but for a little room, with a file that is deleted later.
        filler = small / "filler"
        free = os.statvfs(small).f_bavail * os.statvfs(small).f_frsize
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M",
                        f"count={max(1, free // (1 << 20) - 2)}"],
                       capture_output=True, check=True)  # fmt: skip
        replicas = _replicas_on(url, logs, 2)
        fleet = Fleet([r.base for r in replicas])
        fleet.enroll(secret, 12)
        fleet.start()
        wait_for("the disk to fill (503)", lambda: fleet.statuses[503] >= 20, 60)
        acked = fleet.acked()
        time.sleep(1)
        assert fleet.acked() - acked <= len(fleet.agents)  # at most what was in flight
        filler.unlink()
        acked = fleet.acked()
        wait_for("ingest to resume", lambda: fleet.acked() > acked + 30, 60)
        fleet.stop()
    finally:
        fleet.stop()
        _stop(replicas)
        subprocess.run(["umount", "-l", str(small)], check=False)
    print(f"\nanswers: {dict(fleet.statuses)}; acknowledged: {fleet.acked()}")
    assert not fleet.bad, fleet.bad[:5]
    assert set(fleet.statuses) <= {200, 201, 503}, fleet.statuses


def _replicas_on(url: str, logs: Path, count: int) -> list[Replica]:
    replicas = [Replica(url, logs, f"collector-{i}") for i in range(count)]
    start_all(replicas)
    return replicas
