"""Replay never reads outside the bundle, and recording never follows a link out of a root.

The attack (security review, issue "close the holes"): a support bundle is somebody else's
directory; a symbolic link in it made the replaying machine's own file the reported value.
Each test builds such a bundle from a real recording of this machine and replays it with the
agent's command line, as an admin would.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.bundle import Recorder
from agent.context import live_machine
from agent.report import Selection, collect

MARK = "OUTSIDE-THE-BUNDLE"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("real") / "bundle"
    recorder = Recorder(live_machine(), directory, source="this machine")
    collect(recorder.machine(), Selection(skip=frozenset({"patches"})))
    recorder.finish()
    return directory


def _replay(bundle: Path, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--replay", str(bundle), "--skip", "patches"],
        capture_output=True, text=True, cwd=cwd, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _errors(report: dict[str, Any]) -> list[str]:
    return [e["message"] for e in report["collection"]["errors"] if e["probe"] == "files"]


def _replace(path: Path, make: Any) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)


def _outside(tmp: Path) -> Path:
    outside = tmp / "outside"
    (outside / "kernel").mkdir(parents=True)
    (outside / "os-release").write_text(f'NAME="{MARK}"\nID=debian\nVERSION_ID="66"\n')
    (outside / "hostname").write_text(f"{MARK}\n")
    (outside / "kernel" / "hostname").write_text(f"{MARK}\n")
    (outside / "packages").write_text(f"{MARK}\t1.0\tinstall ok installed\t{MARK}\n")
    return outside


def test_links_and_special_files_in_a_bundle_are_refused(recorded: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(recorded, bundle, symlinks=True)
    outside = _outside(tmp_path)
    files = bundle / "files"

    # absolute link to a file outside
    _replace(files / "etc/os-release", lambda p: p.symlink_to(outside / "os-release"))
    # relative link climbing out of the bundle
    machine_id = files / "etc/machine-id"
    rel = os.path.relpath(outside / "hostname", machine_id.parent)
    _replace(machine_id, lambda p: p.symlink_to(rel))
    # a linked directory: the hostname below it would come from outside
    _replace(files / "proc/sys/kernel", lambda p: p.symlink_to(outside / "kernel"))
    # a chain: a link to a link (inside the bundle) to a file outside
    (bundle / "hop").symlink_to(outside / "hostname")
    _replace(files / "etc/debian_version", lambda p: p.symlink_to(bundle / "hop"))
    # a FIFO: a naive read of it would never end
    _replace(files / "etc/resolv.conf", os.mkfifo)
    # a command's recorded output as a link: the package list from outside
    commands = json.loads((bundle / "commands.json").read_text())
    listing = next(c for c in commands if c["argv"][0] in ("dpkg-query", "rpm"))
    _replace(bundle / listing["stdout"], lambda p: p.symlink_to(outside / "packages"))

    report = _replay(bundle, tmp_path)

    assert MARK not in json.dumps(report)  # nothing from outside, anywhere
    assert report["host"]["machine_id"] is None
    assert report["host"]["hostname"] is None
    assert report["os"]["name"] is None and report["os"]["build"] is None
    assert report["network"]["dns_servers"] in (None, [])
    assert not report["software"]
    errors = _errors(report)
    for refused in (
        "files/etc/os-release: a symbolic link",
        "files/etc/machine-id: a symbolic link",
        "files/proc/sys/kernel: a symbolic link",
        "files/etc/resolv.conf: not a regular file",
        f"{listing['stdout']}: a symbolic link",
    ):
        assert any(e.startswith(refused) and e.endswith("refused") for e in errors), (
            refused,
            errors,
        )


def test_a_socket_and_a_linked_index_file_are_refused(recorded: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(recorded, bundle, symlinks=True)
    outside = _outside(tmp_path)
    server = socket.socket(socket.AF_UNIX)
    try:
        _replace(bundle / "files/etc/os-release", lambda p: server.bind(str(p)))
        report = _replay(bundle, tmp_path)
    finally:
        server.close()
    assert any(e.startswith("files/etc/os-release: not a regular file") for e in _errors(report))

    # An index file that is a link is not read either: the bundle is refused as a whole.
    calls = bundle / "calls.json"
    (outside / "calls.json").write_text(json.dumps({"socket.getfqdn": MARK}))
    calls.unlink()
    calls.symlink_to(outside / "calls.json")
    done = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--replay", str(bundle)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "calls.json" in done.stderr and "symbolic link" in done.stderr
    assert MARK not in done.stdout


def test_an_untouched_bundle_has_no_refusals(recorded: Path, tmp_path: Path) -> None:
    report = _replay(recorded, tmp_path)
    assert _errors(report) == []
    assert report["host"]["machine_id"]


def test_recording_does_not_follow_a_link_out_of_the_root(tmp_path: Path) -> None:
    """A captured tree (--rootfs) whose os-release is an absolute link: on the recording
    machine it points at that machine's own file, which must not become the tree's fact."""
    outside = _outside(tmp_path)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").symlink_to(outside / "os-release")  # absolute
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").symlink_to("../../../outside/os-release")  # relative, out
    bundle = tmp_path / "bundle"
    done = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--rootfs", str(root), "--only", "os",
         "--record", str(bundle)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert MARK not in json.dumps(report["os"])
    assert report["os"]["name"] is None
    assert not (bundle / "files/etc/os-release").exists()
    assert not (bundle / "files/usr/lib/os-release").exists()
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        assert any(e.startswith(f"{path}: a link out of {root}") for e in _errors(report))
    # Nothing in the bundle holds the outside text either.
    for file in bundle.rglob("*"):
        if file.is_file():
            assert MARK not in file.read_text(errors="replace"), file
