"""Support bundles: what is recorded on one machine replays to the same report anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.bundle import BundleError, Recorder, open_bundle
from agent.context import live_machine
from agent.report import Selection, collect
from agent.schema import encode

VOLATILE = {"report_id", "collected_at", "collection"}


def _facts(report) -> dict:
    data = json.loads(encode(report).decode())
    return {k: v for k, v in data.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bundle")
    recorder = Recorder(live_machine(), directory, source="test machine")
    # Patches are slow (apt) and have their own tests; everything else is recorded.
    report = collect(recorder.machine(), Selection(skip=frozenset({"patches"})))
    recorder.finish()
    return directory, report


def test_replay_gives_the_recorded_report(recorded):
    directory, live_report = recorded
    replayed = collect(open_bundle(directory), Selection(skip=frozenset({"patches"})))
    assert _facts(replayed) == _facts(live_report)
    # The same facts could not be read, for the same reasons.
    assert sorted((e.probe, e.message) for e in replayed.collection.errors) == sorted(
        (e.probe, e.message) for e in live_report.collection.errors
    )


def test_bundle_holds_commands_files_and_metadata(recorded):
    directory, _ = recorded
    meta = json.loads((directory / "bundle.json").read_text())
    assert meta["format"] == 1 and meta["platform"] == "linux"
    assert meta["source"] == "test machine" and meta["locale"]
    commands = json.loads((directory / "commands.json").read_text())
    dpkg = [c for c in commands if c["argv"][0] == "dpkg-query"]
    if Path("/var/lib/dpkg/status").exists():
        assert dpkg and dpkg[0]["exit_code"] == 0
        assert "\tdpkg\t" in (directory / dpkg[0]["stdout"]).read_text()
    assert (directory / "files/etc/os-release").read_text() == Path("/etc/os-release").read_text()
    calls = json.loads((directory / "calls.json").read_text())
    assert "psutil.virtual_memory" in calls


def test_replay_through_the_cli_from_another_working_directory(recorded, tmp_path):
    directory, live_report = recorded
    out = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--replay", str(directory), "--skip", "patches"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    replayed = json.loads(out)
    assert replayed["hardware"]["memory_bytes"] == live_report.hardware.memory_bytes
    assert replayed["software"] == json.loads(encode(live_report).decode())["software"]


def test_a_command_missing_from_the_bundle_is_an_error_not_a_crash(recorded, tmp_path):
    directory, _ = recorded
    # A bundle recorded without patches replayed with patches: apt is not in it.
    report = collect(open_bundle(directory), Selection(only=frozenset({"patches"})))
    assert report.patches is None or report.patches.pending_count is None
    assert any(e.probe == "patches" for e in report.collection.errors)


def test_not_a_bundle_is_refused(tmp_path):
    with pytest.raises(BundleError, match=r"no bundle\.json"):
        open_bundle(tmp_path)
    (tmp_path / "bundle.json").write_text('{"format": 99, "platform": "linux"}')
    with pytest.raises(BundleError, match="format 99"):
        open_bundle(tmp_path)


def test_bundle_paths_cannot_escape_the_bundle(tmp_path):
    (tmp_path / "bundle.json").write_text('{"format": 1, "platform": "linux"}')
    (tmp_path / "commands.json").write_text(
        '[{"argv": ["x"], "exit_code": 0, "stdout": "../../etc/passwd", "stderr": ""}]'
    )
    with pytest.raises(BundleError, match="refusing path"):
        open_bundle(tmp_path)
