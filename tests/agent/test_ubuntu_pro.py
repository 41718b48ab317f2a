"""Ubuntu Pro (ESM) state from the Pro client's status file, and the os probe's use of it.

The status file's structure is the Pro client's documented one (canonical/ubuntu-pro-client,
docs: ``pro status --format json``: ``attached`` and ``services`` with ``name`` and
``status``); the texts below keep only those keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.context import ErrorLog, LiveCalls, Machine, ProbeContext
from agent.files import RootedFiles
from agent.parsers.ubuntu_pro import ProStatusError, esm_enabled
from agent.probes import os as os_probe
from tests.fakes import FixtureRunner

ATTACHED = """{"attached": true, "services": [
  {"name": "esm-apps", "status": "enabled"}, {"name": "esm-infra", "status": "enabled"},
  {"name": "livepatch", "status": "warning"}]}"""
ATTACHED_ESM_OFF = """{"attached": true, "services": [
  {"name": "esm-apps", "status": "disabled"}, {"name": "esm-infra", "status": "disabled"}]}"""
DETACHED = """{"attached": false, "services": [
  {"name": "esm-apps", "available": "yes"}, {"name": "esm-infra", "available": "yes"}]}"""
UBUNTU = 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nVERSION_CODENAME=jammy\n'


def test_esm_is_enabled_only_when_attached_with_an_esm_service_enabled() -> None:
    assert esm_enabled(ATTACHED) is True
    assert esm_enabled(ATTACHED_ESM_OFF) is False
    assert esm_enabled(DETACHED) is False
    with pytest.raises(ProStatusError):
        esm_enabled('{"services": []}')


def _os(tmp_path: Path, status: str | None) -> tuple[object, list[str]]:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text(UBUNTU)
    if status is not None:
        target = tmp_path / "var" / "lib" / "ubuntu-advantage"
        target.mkdir(parents=True)
        (target / "status.json").write_text(status)
    errors = ErrorLog()
    ctx = ProbeContext(
        Machine(FixtureRunner(), RootedFiles(rootfs=str(tmp_path)), LiveCalls(), "linux"),
        "os",
        errors,
    )
    info = os_probe.collect_linux(ctx)
    return info, [message for _, message in errors.entries]


def test_os_probe_reports_codename_and_pro(tmp_path: Path) -> None:
    info, _ = _os(tmp_path, ATTACHED)
    assert (info.codename, info.ubuntu_pro) == ("jammy", True)  # type: ignore[attr-defined]


def test_unreadable_pro_status_is_null_with_an_error(tmp_path: Path) -> None:
    info, errors = _os(tmp_path, None)
    assert info.ubuntu_pro is None  # type: ignore[attr-defined]
    assert any("status.json not readable" in e for e in errors)
