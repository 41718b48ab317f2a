"""The patch state's cache (agent.patch_cache) on a Debian 12 rootfs fixture.

The apt commands are answered from real captured output (tests/fixtures/linux/patches,
see SOURCES.md); the files the fingerprint covers are the fixture's, copied per test with
modification times the test sets (git keeps none). "Computed" is seen by the probe's
commands being run again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from agent import patch_cache
from agent.context import Machine
from agent.probes import patches as probe
from agent.runner import CommandResult
from agent.schema import CollectionError, Patches
from tests.agent.test_patches import read, rootfs
from tests.fakes import FixtureRunner, context, machine

UTC = dt.UTC
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BASE = T0.timestamp() - 86400  # the tree's files: a day older than the first run
SIX_HOURS = 6 * 3600.0
LISTS = "var/lib/apt/lists"
SECURITY_RELEASE = f"{LISTS}/deb.debian.org_debian-security_dists_bookworm-security_InRelease"
POLICY = ("apt-cache", "policy")
# bash in the fixture's dpkg status, and as `apt-cache policy` offers it (5.2.15-2+b13).
BASH_B8 = "Version: 5.2.15-2+b8\n"
BASH_B13 = "Version: 5.2.15-2+b13\n"
MAIN_PACKAGES = f"{LISTS}/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"


class PolicyRunner(FixtureRunner):
    """The captured `apt-cache policy` answer for whatever packages are asked (an installed
    package changes the argument list); ``fail`` makes apt fail as with its lock held."""

    fail = False

    def run(
        self, argv: Sequence[str], timeout: float = 0, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        if tuple(argv[:2]) != POLICY:
            return super().run(argv, timeout, env)
        self.calls.append(tuple(argv))
        if self.fail:
            return CommandResult(tuple(argv), 100, "", "E: Could not get lock")
        return CommandResult(tuple(argv), 0, read("debian12-apt-cache-policy.out"), "")


class Fixture:
    def __init__(self, tmp_path: Path):
        self.root = rootfs(tmp_path, "patches-debian12")
        (self.root / "etc/apt/preferences.d").mkdir(parents=True)
        (self.root / "etc/apt/sources.list").write_text(
            "deb http://deb.debian.org/debian bookworm main\n"
            "deb http://deb.debian.org/debian-security bookworm-security main\n"
        )
        (self.root / "etc/apt/preferences").write_text(
            "Package: *\nPin: release a=stable\nPin-Priority: 500\n"
        )
        boot_id = self.root / "proc/sys/kernel/random/boot_id"
        boot_id.parent.mkdir(parents=True)
        boot_id.write_text("0f6b2c9e-3f1d-4d55-9a53-2f6c2b1d7e01\n")
        for path in self.root.rglob("*"):
            os.utime(path, (BASE, BASE))
        self.state = tmp_path / "state"
        self.runner = PolicyRunner()
        self.runner.add_file(["apt-config", "dump"], "linux/patches/debian12-apt-config-dump.out")
        self.machine: Machine = machine(self.runner, self.root)

    def apt_runs(self) -> int:
        return sum(1 for argv in self.runner.calls if argv[:2] == POLICY)

    def compute(self) -> tuple[Patches | None, list[CollectionError]]:
        ctx, errors = context(self.machine, "patches")
        got = probe.collect_linux(ctx)
        return got, [CollectionError(probe=p, message=m) for p, m in errors.entries]

    def run(
        self, now: dt.datetime, *, verify: bool = True
    ) -> tuple[Patches | None, list[CollectionError], bool]:
        return patch_cache.patch_state(
            self.machine, self.state, SIX_HOURS, self.compute, verify=verify, now=now
        )

    def status_text(self) -> str:
        return (self.root / "var/lib/dpkg/status").read_text()

    def apt_update(self) -> None:
        self.touch(MAIN_PACKAGES, LATER, "Package: bash\nVersion: 5.2.15-2+b9\n")
        self.touch(SECURITY_RELEASE, LATER)

    def touch(self, relative: str, when: float, text: str | None = None) -> None:
        path = self.root / relative
        if text is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        os.utime(path, (when, when))


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path)


def test_unchanged_system_returns_the_stored_result(fx: Fixture) -> None:
    first, errors, reused = fx.run(T0)
    assert not reused and errors == [] and fx.apt_runs() == 1
    assert first is not None and first.pending_count == 120
    assert first.pending_security_count == 78

    second, errors2, reused2 = fx.run(T0 + dt.timedelta(hours=1))

    assert reused2 and fx.apt_runs() == 1  # apt not asked again
    assert second == first and errors2 == []
    # The pending list is the same, entry for entry: the collector's pending-since dates
    # (first seen) stay as they are.
    assert second is not None and second.pending == first.pending
    stored = json.loads((fx.state / "patches.json").read_text())
    assert stored["computed_at"] == T0.isoformat()
    assert oct((fx.state / "patches.json").stat().st_mode & 0o777) == "0o600"


# Each change the issue names, made the way apt and dpkg make it.
LATER = BASE + 3600
CHANGES: dict[str, Callable[[Fixture], None]] = {
    # `apt update`: a list downloaded anew (new content, new time)
    "apt update": lambda f: f.apt_update(),
    # an installed package: dpkg rewrites its status with one more stanza
    "installed package": lambda f: f.touch(
        "var/lib/dpkg/status",
        LATER,
        (f.root / "var/lib/dpkg/status").read_text()
        + "\nPackage: htop\nStatus: install ok installed\nArchitecture: amd64\n"
        + "Version: 3.2.2-2\n",
    ),
    # an upgraded package: the same number of bytes (one version digit), a new time
    "upgraded package": lambda f: f.touch(
        "var/lib/dpkg/status", LATER, f.status_text().replace(BASH_B8, BASH_B13)
    ),
    # a changed pin in preferences.d
    "new pin": lambda f: f.touch(
        "etc/apt/preferences.d/firefox",
        LATER,
        "Package: firefox-esr\nPin: release a=bookworm-backports\nPin-Priority: 900\n",
    ),
    "changed pin": lambda f: f.touch(
        "etc/apt/preferences",
        LATER,
        "Package: *\nPin: release a=stable-security\nPin-Priority: 990\n",
    ),
    # a removed list (a source taken out, then `apt update`)
    "removed list": lambda f: (f.root / SECURITY_RELEASE).unlink(),
    # a reboot: /run is empty again and the boot id is new
    "reboot": lambda f: f.touch(
        "proc/sys/kernel/random/boot_id", LATER, "5d1a7c3e-0b2f-4e8a-9c61-7b3e9f0a1c22\n"
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_of_the_sources_makes_the_next_run_compute(fx: Fixture, change: str) -> None:
    fx.run(T0)
    fx.run(T0 + dt.timedelta(minutes=30))
    assert fx.apt_runs() == 1

    CHANGES[change](fx)
    _, _, reused = fx.run(T0 + dt.timedelta(hours=1))

    assert not reused and fx.apt_runs() == 2
    # ... and the new state is stored: the run after that reuses it again.
    _, _, reused = fx.run(T0 + dt.timedelta(hours=2))
    assert reused and fx.apt_runs() == 2


def test_same_size_rewrite_with_a_new_time_is_a_change(fx: Fixture) -> None:
    fx.run(T0)
    status = fx.root / "var/lib/dpkg/status"
    before = status.stat().st_size
    text = status.read_text()
    status.write_text(text.replace(BASH_B8, "Version: 5.2.15-2+b9\n"))  # same length
    os.utime(status, (LATER, LATER))
    assert status.stat().st_size == before  # the size alone would not tell

    _, _, reused = fx.run(T0 + dt.timedelta(hours=1))
    assert not reused


def test_confirmed_every_interval_and_computed_at_least_daily(fx: Fixture) -> None:
    """The README's promise: a report's patch state was confirmed against its sources at
    most one patch interval (6 h) ago and computed at most four intervals (24 h) ago."""
    hour = dt.timedelta(hours=1)
    fx.run(T0)
    # The light reports of the next 6 h use it as it is.
    _, _, reused = fx.run(T0 + 5 * hour, verify=False)
    assert reused and fx.apt_runs() == 1
    # 6 h after the last confirmation a light report confirms it itself (files unchanged:
    # no apt run), and the confirmation is stored.
    _, _, reused = fx.run(T0 + 6 * hour, verify=False)
    assert reused and fx.apt_runs() == 1
    stored = patch_cache.load(fx.state)
    assert stored is not None
    assert stored.verified_at == T0 + 6 * hour and stored.computed_at == T0
    # ... a change after that confirmation is seen by the next confirmation, not before:
    fx.touch("var/lib/dpkg/status", LATER, fx.status_text().replace(BASH_B8, BASH_B13))
    _, _, reused = fx.run(T0 + 11 * hour, verify=False)
    assert reused and fx.apt_runs() == 1
    _, _, reused = fx.run(T0 + 12 * hour, verify=False)
    assert not reused and fx.apt_runs() == 2  # computed at 12 h

    # Unchanged sources, confirmed by the patches job every 6 h: computed afresh 24 h
    # after the last computation all the same.
    for hours in (18, 24, 30):
        _, _, reused = fx.run(T0 + hours * hour)
        assert reused
    assert fx.apt_runs() == 2
    _, _, reused = fx.run(T0 + 36 * hour)
    assert not reused and fx.apt_runs() == 3


def test_light_reports_use_the_stored_state_without_checking(fx: Fixture) -> None:
    fx.run(T0)
    fx.touch("var/lib/dpkg/status", LATER, fx.status_text().replace(BASH_B8, BASH_B13))
    _, _, reused = fx.run(T0 + dt.timedelta(minutes=15), verify=False)
    assert reused and fx.apt_runs() == 1
    # The refresh job checks the sources and sees the change.
    _, _, reused = fx.run(T0 + dt.timedelta(minutes=16))
    assert not reused and fx.apt_runs() == 2


def test_a_clock_set_back_computes_afresh(fx: Fixture) -> None:
    fx.run(T0)
    _, _, reused = fx.run(T0 - dt.timedelta(minutes=1))
    assert not reused and fx.apt_runs() == 2


def test_a_failed_apt_run_is_not_kept(fx: Fixture) -> None:
    fx.runner.fail = True
    got, errors, _ = fx.run(T0)
    assert got is not None and got.pending_count is None
    assert any("exit" in e.message or "lock" in e.message for e in errors)

    fx.runner.fail = False  # the lock is free again
    _, _, reused = fx.run(T0 + dt.timedelta(minutes=5))
    assert not reused and fx.apt_runs() == 2


def test_damaged_or_foreign_cache_file_is_computed_afresh(fx: Fixture) -> None:
    fx.run(T0)
    (fx.state / "patches.json").write_text("{not json")
    _, _, reused = fx.run(T0 + dt.timedelta(minutes=5))
    assert not reused
    data = json.loads((fx.state / "patches.json").read_text())
    data["format"] = 0
    (fx.state / "patches.json").write_text(json.dumps(data))
    _, _, reused = fx.run(T0 + dt.timedelta(minutes=10))
    assert not reused and fx.apt_runs() == 3


def test_a_replayed_bundle_is_never_fingerprinted(fx: Fixture) -> None:
    other = Machine(fx.runner, object(), fx.machine.calls, "linux")  # type: ignore[arg-type]
    assert patch_cache.fingerprint(other) is None
    assert patch_cache.fingerprint(machine(fx.runner, fx.root, platform="windows")) is None
    assert patch_cache.fingerprint(fx.machine) is not None


def test_rpm_fingerprint_follows_the_rpm_database_and_repositories(tmp_path: Path) -> None:
    """dnf and zypper: the rpm database, the repository files and the metadata caches."""
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/dnf").write_text("")
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    (tmp_path / "var/lib/rpm/rpmdb.sqlite").write_bytes(b"SQLite format 3\0")
    (tmp_path / "etc/yum.repos.d").mkdir(parents=True)
    (tmp_path / "etc/yum.repos.d/fedora.repo").write_text("[fedora]\nenabled=1\n")
    for path in tmp_path.rglob("*"):
        os.utime(path, (BASE, BASE))
    m = machine(FixtureRunner(), tmp_path)
    first = patch_cache.fingerprint(m)
    assert first is not None and patch_cache.fingerprint(m) == first

    os.utime(tmp_path / "var/lib/rpm/rpmdb.sqlite", (LATER, LATER))  # a package installed
    second = patch_cache.fingerprint(m)
    assert second != first

    (tmp_path / "etc/yum.repos.d/updates-testing.repo").write_text("[updates-testing]\n")
    third = patch_cache.fingerprint(m)
    assert third not in (first, second)

    (tmp_path / "var/cache/dnf").mkdir(parents=True)  # `dnf makecache` fetched metadata
    (tmp_path / "var/cache/dnf/fedora.solv").write_bytes(b"SOLV")
    assert patch_cache.fingerprint(m) not in (first, second, third)
