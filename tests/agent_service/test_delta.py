"""Deltas: an unchanged report is tiny on the wire, and the collector's merge of a delta
gives the same host view as the equivalent full report."""

from __future__ import annotations

import copy
import gzip
import uuid
from pathlib import Path
from typing import Any

import pytest

from agent import delta
from agent.bundle import open_bundle
from agent.report import Selection, collect
from agent.scheduler import LIGHT_SECTIONS
from agent.schema import SECTIONS, Report, convert, object_data
from collector.delta import merge, mismatched_sections
from tests.collector import conftest as collector_conftest
from tests.collector.conftest import Env
from tests.collector.helpers import make_report

# the collector tests' fixtures: an in-process collector on SQLite and PostgreSQL
backend = collector_conftest.backend
db_url = collector_conftest.db_url
env = collector_conftest.env
decode_workers = collector_conftest.decode_workers


def gz(body: dict[str, Any]) -> int:
    return len(gzip.compress(delta.encode(body), compresslevel=6))


def test_an_unchanged_report_is_small_on_the_wire(bundle: Path) -> None:
    first = object_data(collect(open_bundle(bundle)))
    full, current = delta.wire_body(first, SECTIONS, None)
    assert full["delta"] is None and all(s in full for s in SECTIONS)
    base = delta.Base(first["report_id"], current)

    again = object_data(collect(open_bundle(bundle)))
    body, after = delta.wire_body(again, SECTIONS, base)
    assert after == current
    assert set(body) & set(SECTIONS) == {"host"}  # nothing changed: only host is sent
    assert body["delta"]["section_hashes"] == delta.section_hashes(current)
    light = collect(open_bundle(bundle), Selection(only=frozenset(LIGHT_SECTIONS)))
    light_body, _ = delta.wire_body(object_data(light), LIGHT_SECTIONS, base)
    sizes = {"full": gz(full), "unchanged": gz(body), "light": gz(light_body)}
    print(f"gzip'd wire sizes (bytes): {sizes}")
    assert sizes["unchanged"] <= 2048 and sizes["unchanged"] * 10 <= sizes["full"]
    assert sizes["light"] <= 2048 and sizes["light"] * 10 <= sizes["full"]


def test_a_light_report_needs_a_base() -> None:
    report = object_data(convert(make_report(), Report))
    with pytest.raises(delta.NoBase):
        delta.wire_body(report, LIGHT_SECTIONS, None)


def normalized(report: dict[str, Any]) -> dict[str, Any]:
    return object_data(convert(report, Report))


def changed(report: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(report)
    out["report_id"] = str(uuid.uuid4())
    out["software"] = [*out["software"][:1], {"name": "new", "version": "2", "publisher": None}]
    out["patches"]["pending_count"] = 0
    out["patches"]["pending"] = []
    out["wlan"] = None
    return out


def test_merge_is_the_full_report() -> None:
    base = normalized(make_report(software=5))
    new = normalized(changed(base))
    body, current = delta.wire_body(new, SECTIONS, delta.Base(base["report_id"], base))
    assert set(body) & set(SECTIONS) == {"host", "software", "patches", "wlan"}
    assert body["wlan"] is None  # sent as null: "unknown now", not "unchanged"
    merged = merge(base, body)
    assert merged == {**new, "delta": None}
    assert mismatched_sections(merged, body["delta"]["section_hashes"]) == []
    # a collector whose base differs in a section the delta does not carry: the hashes tell
    other = normalized({**base, "hardware": {"cpu_model": "other"}})
    wrong = mismatched_sections(merge(other, body), body["delta"]["section_hashes"])
    assert wrong == ["hardware"]
    assert current == {s: new[s] for s in SECTIONS}


def view(env: Env, host_id: int) -> dict[str, Any]:
    r = env.client.get(f"/api/v1/hosts/{host_id}", headers=env.auth(env.viewer))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    for key in ("last_seen", "last_collected_at"):
        out.pop(key)
    for key in ("report_id", "collected_at", "collection"):
        out["report"].pop(key)
    return out


@pytest.mark.parametrize("decode_workers", [0, 1], ids=["in-process", "decode-worker"])
def test_host_view_after_a_delta_equals_the_view_after_the_full_report(env: Env) -> None:
    _agent, token = env.enroll("m-delta")
    base = normalized(make_report("m-delta", software=20))
    r = env.post(token, base)
    assert r.status_code == 201, r.text
    host_id = r.json()["host_id"]

    new = normalized(changed(base))
    body, _ = delta.wire_body(new, SECTIONS, delta.Base(base["report_id"], base))
    r = env.post(token, body)
    assert r.status_code == 201, r.text
    assert sorted(r.json()["changed_sections"]) == ["patches", "software", "wlan"]
    after_delta = view(env, host_id)
    assert env.post(token, body).json()["status"] == "duplicate"  # a resend is harmless

    full = {**new, "report_id": str(uuid.uuid4())}
    assert env.post(token, full).status_code == 201
    after_full = view(env, host_id)
    assert after_delta == after_full
    assert after_delta["derived"]["software_count"] == 2

    # a delta on top of the merged report works too
    newer = normalized({**changed(new), "software": [], "report_id": str(uuid.uuid4())})
    body, _ = delta.wire_body(newer, LIGHT_SECTIONS, delta.Base(full["report_id"], new))
    assert "software" not in body  # a light report does not carry the software section
    r = env.post(token, body)
    assert r.status_code == 201, r.text


def test_the_collector_asks_for_a_full_report_when_it_lacks_the_base(env: Env) -> None:
    _agent, token = env.enroll("m-409")
    base = normalized(make_report("m-409"))
    body, _ = delta.wire_body(
        normalized(changed(base)), SECTIONS, delta.Base(base["report_id"], base)
    )
    r = env.post(token, body)  # the collector never saw the base
    assert r.status_code == 409 and r.json()["need_full"] is True, r.text
    other = normalized({**make_report("m-409"), "hardware": {"cpu_model": "restored"}})
    assert env.post(token, other).status_code == 201
    r = env.post(token, body)  # a base that differs in a section the delta does not carry
    assert r.status_code == 409 and r.json()["need_full"] is True
    assert "hardware" in r.json()["detail"]


def test_the_base_keeps_its_hashes_and_a_light_report_hashes_only_its_sections(
    tmp_path: Path,
) -> None:
    report = object_data(convert(make_report(), Report))
    _, current = delta.wire_body(report, SECTIONS, None)
    delta.save_base(tmp_path, delta.Base(report["report_id"], current))
    stored = delta.load_base(tmp_path)
    assert stored is not None and stored.hashes == delta.section_hashes(current)

    changed = copy.deepcopy(report)
    changed["os"]["version"] = "13"  # upgraded to Debian 13
    with_hashes, _ = delta.wire_body(changed, ["host", "os"], stored)
    without, _ = delta.wire_body(changed, ["host", "os"], delta.Base(stored.report_id, current))
    assert with_hashes == without  # the same body, whether the base's hashes were kept
    assert set(with_hashes) & set(SECTIONS) == {"host", "os"}
    assert with_hashes["delta"]["section_hashes"]["os"] != stored.hashes["os"]

    # Stored hashes that do not cover every section are not trusted.
    partial = delta.Base(stored.report_id, current, {"os": "0" * 16})
    assert partial.section_hashes() == delta.section_hashes(current)


def test_a_base_read_from_its_file_merges_and_is_written_back_unchanged(tmp_path: Path) -> None:
    # The base's sections are kept as their JSON text when read (not parsed): what a light
    # report does not carry must come back, written again, exactly as it was.
    report = object_data(convert(make_report(), Report))
    _, current = delta.wire_body(report, SECTIONS, None)
    delta.save_base(tmp_path, delta.Base(report["report_id"], current))
    stored = delta.load_base(tmp_path)
    assert stored is not None

    light = copy.deepcopy(report)
    light["report_id"] = "00000000-0000-4000-8000-00000000beef"
    light["os"]["version"] = "13"
    body, merged = delta.wire_body(light, ["os"], stored)
    assert body["host"] == report["host"]  # always sent, parsed
    assert set(body) & set(SECTIONS) == {"host", "os"}
    delta.save_base(
        tmp_path, delta.Base(light["report_id"], merged, body["delta"]["section_hashes"])
    )
    delta.forget_base()
    again = delta.load_base(tmp_path)
    assert again is not None and again.report_id == light["report_id"]
    expected = {**{s: report.get(s) for s in SECTIONS}, "os": light["os"]}
    assert {s: delta.parsed(v) for s, v in again.sections.items()} == expected
    assert again.section_hashes() == delta.section_hashes(expected)
