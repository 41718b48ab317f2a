"""The outbox: atomic entries, oldest first, torn files moved aside, bounds that drop the
oldest light reports first and never the newest full inventory."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from agent.spool import Spool, peek


def report(n: int, pad: int = 0) -> dict[str, Any]:
    return {"report_id": f"00000000-0000-0000-0000-{n:012d}", "pad": "x" * pad}


def test_entries_come_back_oldest_first_after_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool").open()
    for n in range(5):
        spool.put("full" if n == 0 else "light", ["os"], report(n))
    again = Spool(tmp_path / "spool").open()
    ids = [again.load(e).report["report_id"] for e in again.entries()]  # type: ignore[union-attr]
    assert ids == [report(n)["report_id"] for n in range(5)]
    assert [e.kind for e in again.entries()] == ["full"] + ["light"] * 4
    assert peek(tmp_path / "spool")[0] == 5
    first = again.entries()[0]
    again.remove(first)
    assert len(Spool(tmp_path / "spool").open()) == 4
    # sequence numbers keep growing: a new entry sorts after the old ones
    entry = again.put("light", ["os"], report(9))
    assert entry.path.name > again.entries()[-2].path.name


def test_temp_files_are_removed_and_torn_files_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool").open()
    good = spool.put("full", ["os"], report(1))
    torn = spool.put("light", ["os"], report(2))
    # a crash between write and rename leaves a temp file; a broken disk a torn entry
    (tmp_path / "spool" / ".tmp-000000000003-light.json.123").write_bytes(b'{"form')
    torn.path.write_bytes(torn.path.read_bytes()[:40])
    with caplog.at_level(logging.INFO, logger="agent.spool"):
        again = Spool(tmp_path / "spool").open()
    assert [e.path.name for e in again.entries()] == [good.path.name]
    assert not list((tmp_path / "spool").glob(".tmp-*"))
    moved = list((tmp_path / "spool" / "corrupt").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith(torn.path.name)
    assert "moved to" in caplog.text and "temp file" in caplog.text
    # the next entry does not reuse the torn one's sequence number
    assert again.put("light", ["os"], report(4)).seq > torn.seq


def test_bounds_drop_oldest_light_first_never_the_newest_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=10_000).open()
    old_full = spool.put("full", ["os"], report(0, pad=3000))
    lights = [spool.put("light", ["os"], report(n, pad=1000)) for n in range(1, 4)]
    new_full = spool.put("full", ["os"], report(4, pad=3000))
    assert len(spool) == 5  # ~11 KB: nothing dropped yet? total decides
    with caplog.at_level(logging.WARNING, logger="agent.spool"):
        spool.put("light", ["os"], report(5, pad=2000))
    kept = [e.seq for e in spool.entries()]
    assert new_full.seq in kept
    assert lights[0].seq not in kept  # the oldest light report went first
    assert spool.total_bytes() <= 10_000
    assert "dropped" in caplog.text and "newest full inventory is kept" in caplog.text
    # far over the bound: everything but the newest full inventory may go
    tiny = Spool(tmp_path / "spool", max_bytes=65_536).open()
    tiny.max_bytes = 1
    tiny.enforce_bounds()
    assert [e.seq for e in tiny.entries()] == [new_full.seq]
    assert old_full.seq not in [e.seq for e in tiny.entries()]


def test_age_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_age_s=3600).open()
    full = spool.put("full", ["os"], report(0))
    light = spool.put("light", ["os"], report(1))
    spool.put("light", ["os"], report(2))
    dropped = spool.enforce_bounds(now=time.time() + 7200)
    assert {e.seq for e in dropped} == {light.seq, light.seq + 1}
    assert [e.seq for e in spool.entries()] == [full.seq]


def test_entries_are_complete_json_with_restrictive_mode(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool").open()
    entry = spool.put("full", ["os", "host"], report(7))
    data = json.loads(entry.path.read_bytes())
    assert data["format"] == 1 and data["kind"] == "full" and data["sections"] == ["os", "host"]
    assert os.stat(entry.path).st_mode & 0o077 == 0
