"""The decode worker processes (collector.decode_pool) answer exactly as decoding in the
serving process does, for good and for hostile reports; a worker that dies costs no report
and is replaced. Real worker processes throughout."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from agent import delta
from agent.schema import SECTIONS
from collector import reference_cache
from collector.db import Database
from collector.decode_pool import DecodePool, StoreUnavailable, WorkerUnavailable
from collector.ingest import AgentIdentity, find_agent
from collector.limits import Limits
from collector.report_decoding import BadReport, DecodedReport, decode
from collector.security import hash_secret
from collector.services import add_site, create_enroll_secret, enroll
from tests.agent.test_windows_bundles import replay
from tests.collector.conftest import TEST_LIMITS, Env
from tests.collector.helpers import database_url, make_report
from tests.collector.test_bad_input import CASES, MACHINE, PATHS, _with, json_value, snapshot

T = TypeVar("T")
LIMITS = Limits(TEST_LIMITS["max_body_bytes"], TEST_LIMITS["max_decompressed_bytes"], 16)


class LoopThread:
    """An event loop in a thread of its own, so that one pool serves the whole module."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def pool() -> Iterator[tuple[LoopThread, DecodePool]]:
    loop = LoopThread()
    decode_pool = DecodePool(1, LIMITS)
    loop.run(decode_pool.start())
    assert all(worker.ready for worker in decode_pool.workers)
    yield loop, decode_pool
    loop.run(decode_pool.stop())
    loop.close()


def outcome(run: Any) -> tuple[Any, ...]:
    """("ok", DecodedReport) or ("bad", status, message, errors): what a decode ended in."""
    try:
        decoded = run()
    except BadReport as exc:
        return ("bad", exc.status, exc.message, exc.errors)
    assert isinstance(decoded, DecodedReport)
    return ("ok", decoded)


def both(pool: tuple[LoopThread, DecodePool], body: bytes, encoding: str | None) -> list[Any]:
    loop, decode_pool = pool
    # As the serving process does: the reference data in use, and its digest for the worker.
    basis = reference_cache.basis()
    assert basis.digest and basis.reference is not None
    here = outcome(lambda: decode(body, encoding, LIMITS, basis))
    there = outcome(lambda: loop.run(decode_pool.decode(body, encoding, basis.digest)))
    return [here, there]


@pytest.mark.parametrize("case", list(CASES))
def test_refusals_are_the_same_as_in_the_serving_process(pool: Any, case: str) -> None:
    make_body, headers, status = CASES[case]
    here, there = both(pool, make_body(), headers.get("Content-Encoding"))
    assert there == here
    if case != "oversize body":  # refused by its length before decoding
        assert here[:2] == ("bad", status)


@pytest.fixture(scope="module")
def real_reports() -> dict[str, bytes]:
    """This machine's report, a German Windows laptop's, and made ones the fast path skips."""
    local = subprocess.run(
        [sys.executable, "-m", "agent", "collect"], capture_output=True, check=True, timeout=120
    ).stdout
    german = replay("windows-10-de-laptop")
    german["host"]["machine_id"] = "m-de"  # the bundle's was scrubbed
    naive = make_report("m-naive", "Sekretariat-Übergröße", software=40)
    naive["collected_at"] = "2026-11-26T07:55:00"  # no zone: stored as UTC
    base = json.loads(json.dumps(make_report("m-delta", software=5)))
    new = {**base, "report_id": str(uuid.uuid4()), "software": base["software"][:2]}
    body, _ = delta.wire_body(new, SECTIONS, delta.Base(base["report_id"], base))
    return {
        "this machine": local,
        "20,000 programs": json.dumps(make_report("m-big", software=20_000)).encode(),
        "windows-10-de-laptop": json.dumps(german, ensure_ascii=False).encode(),
        "escaped non-ASCII, naive time": json.dumps(naive).encode(),  # \\u escapes
        "delta": json.dumps(body).encode(),
    }


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_decoded_reports_are_the_same_as_in_the_serving_process(
    pool: Any, real_reports: dict[str, bytes], gzipped: bool
) -> None:
    for name, body in real_reports.items():
        wire = gzip.compress(body) if gzipped else body
        here, there = both(pool, wire, "gzip" if gzipped else None)
        assert here[0] == "ok", (name, here)
        assert there == here, name
    local = outcome(lambda: decode(real_reports["this machine"], None, LIMITS))[1]
    assert local.section_hashes.keys() == set(SECTIONS)
    naive = outcome(lambda: decode(real_reports["escaped non-ASCII, naive time"], None, LIMITS))
    assert naive[1].collected_at == dt.datetime(2026, 11, 26, 7, 55, tzinfo=dt.UTC)
    assert naive[1].host_columns["hostname"] == "Sekretariat-Übergröße"
    delta_report = outcome(lambda: decode(real_reports["delta"], None, LIMITS))[1]
    # A delta carries the sections it sent (host always), nothing else.
    assert delta_report.is_delta
    assert set(delta_report.sections) == set(delta_report.section_hashes) == {"host", "software"}
    assert delta_report.delta_hashes.keys() == set(SECTIONS)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(PATHS), value=json_value, raw=st.binary(max_size=64))
def test_property_any_body_gets_the_same_answer(
    pool: Any, path: str, value: Any, raw: bytes
) -> None:
    try:
        body = _with(path, value)
    except (KeyError, IndexError, TypeError, ValueError):
        body = raw
    for wire, encoding in ((raw, None), (body, None), (gzip.compress(body), "gzip")):
        here, there = both(pool, wire, encoding)
        assert there == here


def test_an_answer_to_a_cancelled_request_is_dropped(pool: tuple[LoopThread, DecodePool]) -> None:
    loop, decode_pool = pool
    body = json.dumps(make_report("m-cancel")).encode()

    async def cancel_one_then_decode() -> DecodedReport:
        waiting = asyncio.ensure_future(decode_pool.decode(body, None))
        await asyncio.sleep(0)  # sent to the worker
        waiting.cancel()
        return await decode_pool.decode(body, None)

    assert loop.run(cancel_one_then_decode()).machine_id == "m-cancel"
    assert all(worker.ready for worker in decode_pool.workers)


def test_a_killed_worker_is_replaced_and_costs_no_report() -> None:
    loop = LoopThread()
    decode_pool = DecodePool(1, LIMITS)
    try:
        loop.run(decode_pool.start())
        worker = decode_pool.workers[0]
        body = json.dumps(make_report("m-kill")).encode()
        assert loop.run(decode_pool.decode(body, None)).machine_id == "m-kill"
        first = worker.process
        assert first is not None
        first.kill()
        with pytest.raises(WorkerUnavailable):
            loop.run(decode_pool.decode(body, None))
        deadline = time.monotonic() + 30
        while not (worker.ready and worker.process is not first):
            assert time.monotonic() < deadline, "no new worker within 30 s"
            time.sleep(0.05)
        assert loop.run(decode_pool.decode(body, None)).machine_id == "m-kill"
    finally:
        loop.run(decode_pool.stop())
        loop.close()
    assert first.returncode is not None and worker.process is not None
    assert worker.process.returncode == 0  # ended by the closed socket, not killed


# --- the endpoint with a worker: same answers, same stored data, nothing lost ---------


def sample(env: Env, name: str) -> float:
    """One unlabelled sample of the collector's /metrics."""
    for family in text_string_to_metric_families(env.client.get("/metrics").text):
        for found in family.samples:
            if found.name == name:
                return float(found.value)
    raise AssertionError(f"{name} not exported")


@pytest.mark.parametrize("decode_workers", [1])
def test_the_endpoint_through_a_worker(env: Env) -> None:
    pool = env.client.app.state.decode_pool  # type: ignore[attr-defined]
    assert pool is not None and all(worker.ready for worker in pool.workers)
    assert sample(env, "inventar_decode_workers") == 1
    assert sample(env, "inventar_decode_worker_exits_total") == 0
    _, token = env.enroll(MACHINE)
    report = make_report(MACHINE, "pc-1", software=10)
    r = env.post(token, report)
    assert r.status_code == 201, r.text
    host_id = r.json()["host_id"]
    assert env.post(token, report).json()["status"] == "duplicate"

    _, other = env.enroll("m-2")
    before = snapshot(env)
    for case in ("wrong type", "NUL in string", "gzip bomb", "invalid UTF-8"):
        make_body, headers, status = CASES[case]
        r = env.client.post(
            "/api/v1/reports", content=make_body(), headers={**env.auth(token), **headers}
        )
        assert r.status_code == status, (case, r.text)
    assert env.post(other, make_report(MACHINE)).status_code == 403  # not its machine
    assert snapshot(env) == before

    view = env.client.get(f"/api/v1/hosts/{host_id}", headers=env.auth(env.viewer)).json()
    assert view["hostname"] == "pc-1" and view["derived"]["software_count"] == 10

    # The worker dies: reports are decoded in the serving process until a new one runs.
    worker = pool.workers[0]
    dead = worker.process
    dead.kill()
    dead_by = time.monotonic() + 10
    while worker.ready:
        assert time.monotonic() < dead_by
        time.sleep(0.01)
    newer = make_report(MACHINE, "pc-1-renamed", software=3)
    r = env.post(token, newer)
    assert r.status_code == 201, r.text
    assert r.json()["changed_sections"] == ["host", "software"]
    assert sample(env, "inventar_decode_worker_exits_total") == 1
    deadline = time.monotonic() + 30
    while not (worker.ready and worker.process is not dead):
        assert time.monotonic() < deadline, "no new worker within 30 s"
        time.sleep(0.05)
    assert env.post(token, make_report(MACHINE, "pc-1-again")).status_code == 201
    assert sample(env, "inventar_decode_workers") == 1


# --- storing workers (PostgreSQL): the store happens in the worker, with the same answers --


def _agent(db: Database, machine_id: str) -> AgentIdentity:
    with db.session() as s:
        secret = create_enroll_secret(s, "GS Nord")
        enrollment = enroll(s, secret, machine_id, "h")
    with db.engine.connect() as conn:
        agent = find_agent(conn, hash_secret(enrollment.token))
    assert agent is not None
    return agent


def test_a_storing_worker_stores_and_answers_as_the_serving_process_would(
    tmp_path: Path,
) -> None:
    with database_url("postgres", tmp_path) as url:
        db = Database(url)
        db.upgrade()
        with db.session() as s:
            add_site(s, "GS Nord", "school")
        agent, other = _agent(db, "m-store"), _agent(db, "m-other")
        loop = LoopThread()
        storing = DecodePool(1, LIMITS, database_url=url)
        digest = reference_cache.basis().digest
        try:
            loop.run(storing.start())
            assert storing.stores and all(worker.ready for worker in storing.workers)
            report = make_report("m-store", "pc-store", software=5)
            body = json.dumps(report).encode()
            # This process never writes: the host and its rows can only come from the worker.
            first = loop.run(storing.store(body, None, digest, agent))
            assert first.status == "stored" and "software" in first.changed_sections
            with db.engine.connect() as conn:
                hostname, count = conn.execute(
                    sa.text(
                        "SELECT hostname, (SELECT count(*) FROM software WHERE host_id = h.id) "
                        "FROM hosts h WHERE id = :id"
                    ),
                    {"id": first.host_id},
                ).one()
            assert (hostname, count) == ("pc-store", 5)
            again = loop.run(storing.store(body, None, digest, agent))
            assert (again.status, again.host_id) == ("duplicate", first.host_id)
            with pytest.raises(BadReport) as refused:  # another agent's machine
                loop.run(storing.store(body, None, digest, other))
            assert refused.value.status == 403
            with pytest.raises(BadReport) as bad:  # a decode's refusal, as in-process
                loop.run(storing.store(b"{", None, digest, agent))
            assert bad.value.status == 400
        finally:
            loop.run(storing.stop())
            loop.close()
            db.dispose()


def test_a_storing_worker_answers_unavailable_while_the_database_is(tmp_path: Path) -> None:
    with database_url("postgres", tmp_path) as url:
        db = Database(url)
        db.upgrade()
        with db.session() as s:
            add_site(s, "GS Nord", "school")
        agent = _agent(db, "m-down")
        db.dispose()
    # The same database name on a port where nothing listens: every connect is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = sa.engine.make_url(url).set(port=port).render_as_string(hide_password=False)
    loop = LoopThread()
    storing = DecodePool(1, LIMITS, database_url=down)
    try:
        loop.run(storing.start())
        body = json.dumps(make_report("m-down")).encode()
        with pytest.raises(StoreUnavailable):
            loop.run(storing.store(body, None, reference_cache.basis().digest, agent))
        assert all(worker.ready for worker in storing.workers)  # the worker keeps running
    finally:
        loop.run(storing.stop())
        loop.close()


def test_a_hosts_reports_go_to_one_worker() -> None:
    storing = DecodePool(3, LIMITS, database_url="postgresql+psycopg://unused/none")
    chosen: dict[str, set[int]] = {}

    async def record(worker: Any, request: tuple[Any, ...]) -> Any:
        chosen.setdefault(request[3][1], set()).add(storing.workers.index(worker))
        return ("stored", "stored", "r", 1, [])

    worker_class = type(storing.workers[0])
    with (  # as if all three ran, without processes
        mock.patch.object(worker_class, "ready", new_callable=mock.PropertyMock) as ready,
        mock.patch.object(worker_class, "request", record),
    ):
        ready.return_value = True
        for machine in [f"m-{n}" for n in range(30)] * 3:
            asyncio.run(storing.store(b"{}", None, "", AgentIdentity("a", machine, 1, 1)))
    assert len(chosen) == 30 and all(len(workers) == 1 for workers in chosen.values())
    assert len({next(iter(w)) for w in chosen.values()}) == 3  # spread over all workers
