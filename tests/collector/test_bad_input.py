"""Hostile and broken reports: each gets a 4xx saying what is wrong, the collector keeps
serving, and nothing stored before changes. On SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.collector.conftest import TEST_LIMITS, Env
from tests.collector.helpers import make_report

MACHINE = "m-1"


def snapshot(env: Env) -> dict[str, Any]:
    out = {}
    with env.db.engine.connect() as conn:
        for table in ("hosts", "report_receipts", "host_history", "host_changes", "software",
                      "pending_patches", "displays", "agents"):  # fmt: skip
            rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1, 2")).all()
            out[table] = [tuple(map(str, r)) for r in rows]
    return out


@pytest.fixture
def seeded(env: Env) -> tuple[Env, str]:
    _, token = env.enroll(MACHINE)
    assert env.post(token, make_report(MACHINE, "pc-1", software=10)).status_code == 201
    return env, token


def _json(report: dict[str, Any]) -> bytes:
    return json.dumps(report).encode()


def _with(path: str, value: Any) -> bytes:
    report = make_report(MACHINE)
    target = report
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]  # type: ignore[index]
    target[last] = value
    return _json(report)


def _deep(n: int) -> bytes:
    return b'{"host": ' + b"[" * n + b"]" * n + b"}"


CASES: dict[str, tuple[Callable[[], bytes], dict[str, str], int]] = {
    "empty body": (lambda: b"", {}, 400),
    "malformed JSON": (lambda: b'{"schema_version": 1,', {}, 400),
    "not an object": (lambda: b"[1, 2, 3]", {}, 422),
    "NaN": (lambda: _json(make_report(MACHINE))[:-1] + b', "x": NaN}', {}, 400),
    "huge integer": (lambda: b'{"schema_version": ' + b"9" * 5000 + b"}", {}, 400),
    "wrong type": (lambda: _with("hardware.cpu_cores", "many"), {}, 422),
    "negative size": (lambda: _with("hardware.memory_bytes", -1), {}, 422),
    "unknown field": (lambda: _with("host.password", "x"), {}, 422),
    "bad enum": (lambda: _with("wlan.interfaces.0.security", "wpa9"), {}, 422),
    "unknown schema_version": (lambda: _with("schema_version", 2), {}, 422),
    "missing schema_version": (
        lambda: _json({k: v for k, v in make_report(MACHINE).items() if k != "schema_version"}),
        {},
        422,
    ),
    "bad report_id": (lambda: _with("report_id", "not-a-uuid"), {}, 422),
    "missing machine_id": (lambda: _with("host.machine_id", None), {}, 422),
    "no host": (lambda: _with("host", None), {}, 422),
    "huge string": (lambda: _with("host.hostname", "x" * 100_000), {}, 422),
    "huge list": (lambda: _with("software", [{}] * 50_001), {}, 422),
    "huge tag list": (lambda: _with("host.tags", ["t"] * 1000), {}, 422),
    "deep nesting": (lambda: _deep(100), {}, 400),
    "very deep nesting": (lambda: _deep(200_000), {}, 400),
    "NUL in string": (lambda: _with("host.hostname", "pc\x001"), {}, 400),
    "NUL in key": (lambda: _json(make_report(MACHINE))[:-1] + b', "a\\u0000": 1}', {}, 400),
    "raw NUL byte": (lambda: _json(make_report(MACHINE)).replace(b"pc-0001", b"pc\x00"), {}, 400),
    "lone surrogate": (
        lambda: _json(make_report(MACHINE)).replace(b"pc-0001", b"\\ud800"),
        {},
        400,
    ),
    "invalid UTF-8": (
        lambda: _json(make_report(MACHINE)).replace(b"pc-0001", b"pc\xff\xfe"),
        {},
        400,
    ),
    "oversize body": (
        lambda: b" " * (TEST_LIMITS["max_body_bytes"] + 1) + _json(make_report(MACHINE)),
        {},
        413,
    ),
    "gzip bomb": (
        lambda: gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9),
        {"Content-Encoding": "gzip"},
        413,
    ),
    "not gzip": (lambda: _json(make_report(MACHINE)), {"Content-Encoding": "gzip"}, 400),
    "truncated gzip": (
        lambda: gzip.compress(_json(make_report(MACHINE)))[:-20],
        {"Content-Encoding": "gzip"},
        400,
    ),
    "unknown encoding": (lambda: _json(make_report(MACHINE)), {"Content-Encoding": "br"}, 415),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_report_is_refused_and_nothing_changes(seeded: tuple[Env, str], case: str) -> None:
    env, token = seeded
    make_body, headers, status = CASES[case]
    before = snapshot(env)
    r = env.client.post(
        "/api/v1/reports",
        content=make_body(),
        headers={**env.auth(token), "Content-Type": "application/json", **headers},
    )
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert env.client.get("/healthz").status_code == 200
    assert snapshot(env) == before
    # and the collector still takes good reports
    assert env.post(token, make_report(MACHINE, "pc-1")).status_code == 201


def test_schema_errors_say_where(seeded: tuple[Env, str]) -> None:
    env, token = seeded
    r = env.client.post(
        "/api/v1/reports", content=_with("hardware.cpu_cores", "many"), headers=env.auth(token)
    )
    assert r.status_code == 422
    assert ["hardware", "cpu_cores"] in [e["loc"] for e in r.json()["errors"]]


def test_sql_looking_strings_are_stored_verbatim(seeded: tuple[Env, str]) -> None:
    env, token = seeded
    evil = "pc'); DROP TABLE hosts; -- \" \\ %s %(x)s ü 🖥"
    report = make_report(MACHINE, evil)
    report["software"] = [{"name": "x' OR '1'='1", "version": "1;--", "publisher": None}]
    assert env.post(token, report).status_code == 201
    host = env.client.get("/api/v1/hosts/1", headers=env.auth(env.viewer)).json()
    assert host["hostname"] == evil
    assert host["report"]["software"][0]["name"] == "x' OR '1'='1"
    assert env.client.get("/api/v1/hosts", headers=env.auth(env.viewer)).json()["total"] == 1


def test_bad_enrollment_requests(env: Env) -> None:
    for body in (
        b"",
        b"{",
        b"[]",
        b'{"secret": "s"}',
        b'{"secret": "s", "machine_id": "a\\u0000"}',
        b'{"secret": "s", "machine_id": "\\ud800"}',
        b'{"secret": "s", "machine_id": "' + b"x" * 1000 + b'"}',
        b"[" * 50_000,
        b'{"secret": "s", "machine_id": "m", "extra": 1}',
    ):
        r = env.client.post("/api/v1/enroll", content=body)
        assert 400 <= r.status_code < 500, (body[:40], r.text)
    big = b'{"secret": "' + b"x" * 100_000 + b'"}'
    assert env.client.post("/api/v1/enroll", content=big).status_code == 413


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PATHS = [
    "schema_version", "report_id", "collected_at", "agent", "host", "host.hostname",
    "host.machine_id", "host.tags", "os", "os.family", "hardware", "hardware.disks",
    "displays", "network.interfaces", "wlan.interfaces", "patches.pending", "software",
    "collection", "collection.errors", "security",
]  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(PATHS),
    value=json_value,
    raw=st.binary(max_size=64),
    mode=st.integers(0, 2),
)
def test_property_no_5xx(
    seeded: tuple[Env, str], path: str, value: Any, raw: bytes, mode: int
) -> None:
    env, token = seeded
    if mode == 0:
        body = raw
    else:
        try:
            body = _with(path, value)
        except (KeyError, IndexError, TypeError, ValueError):
            body = raw
        if mode == 2:
            body = gzip.compress(body)
    headers = {**env.auth(token), "Content-Type": "application/json"}
    if mode == 2:
        headers["Content-Encoding"] = "gzip"
    r = env.client.post("/api/v1/reports", content=body, headers=headers)
    assert r.status_code < 500, r.text
    assert isinstance(r.json(), dict)
