"""agent.fact_cache: a live command's answer kept while the files it depends on stay as
they are (real commands on a temp tree; times set by the test)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from agent import fact_cache
from agent.context import ErrorLog, LiveCalls, Machine, ProbeContext
from agent.files import RootedFiles
from agent.runner import CommandResult, LocalRunner
from tests.fakes import FixtureRunner


class CountingRunner(LocalRunner):
    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def run(
        self, argv: Sequence[str], timeout: float = 30, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        self.runs += 1
        return super().run(argv, timeout=timeout, env=env)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    fact_cache.clear()
    yield
    fact_cache.clear()


def setup(tmp_path: Path) -> tuple[ProbeContext, CountingRunner, Path]:
    config = tmp_path / "etc/ssh/sshd_config"
    (tmp_path / "etc/ssh/sshd_config.d").mkdir(parents=True)
    config.write_text("PermitRootLogin no\n")
    os.utime(config, (1_700_000_000, 1_700_000_000))
    runner = CountingRunner()
    files = RootedFiles(rootfs=str(tmp_path))
    machine = Machine(runner, files, LiveCalls(), "linux")
    return ProbeContext(machine, "security", ErrorLog()), runner, config


DEPENDS = ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d")


def ask(ctx: ProbeContext, config: Path, max_age: float = 3600) -> CommandResult:
    # `cat` stands for sshd -T: a real command whose answer is the file's content.
    return fact_cache.run_cached(ctx, ["cat", str(config)], DEPENDS, max_age, 10)


def test_kept_while_unchanged_and_asked_again_after_a_change(tmp_path: Path) -> None:
    ctx, runner, config = setup(tmp_path)
    assert ask(ctx, config).stdout == "PermitRootLogin no\n"
    assert ask(ctx, config).stdout == "PermitRootLogin no\n"
    assert runner.runs == 1

    config.write_text("PermitRootLogin yes\n")
    os.utime(config, (1_700_000_100, 1_700_000_100))
    assert ask(ctx, config).stdout == "PermitRootLogin yes\n"
    assert runner.runs == 2

    drop_in = tmp_path / "etc/ssh/sshd_config.d/50-cloud-init.conf"
    drop_in.write_text("PasswordAuthentication yes\n")
    ask(ctx, config)
    assert runner.runs == 3  # a new drop-in is a change too
    drop_in.unlink()
    ask(ctx, config)
    assert runner.runs == 4  # and so is a removed one


def test_age_limit_and_failures_are_asked_again(tmp_path: Path) -> None:
    ctx, runner, config = setup(tmp_path)
    ask(ctx, config, max_age=0)
    ask(ctx, config, max_age=0)
    assert runner.runs == 2
    missing = tmp_path / "nonexistent"
    assert not fact_cache.run_cached(ctx, ["cat", str(missing)], DEPENDS, 3600, 10).ok
    fact_cache.run_cached(ctx, ["cat", str(missing)], DEPENDS, 3600, 10)
    assert runner.runs == 4


def test_machines_not_read_live_always_run(tmp_path: Path) -> None:
    runner = FixtureRunner().add(["sshd", "-T"], "permitrootlogin no\n")
    machine = Machine(runner, RootedFiles(rootfs=str(tmp_path)), LiveCalls(), "linux")
    ctx = ProbeContext(machine, "security", ErrorLog())
    for _ in range(2):
        fact_cache.run_cached(ctx, ["sshd", "-T"], DEPENDS, 3600, 10)
    assert len(runner.calls) == 2


def test_a_content_dependency_is_compared_by_content(tmp_path: Path) -> None:
    # /proc/self/mountinfo keeps its size (0) and time whatever is mounted: lsblk's answer
    # is kept by what the mount table says.
    ctx, runner, config = setup(tmp_path)
    mounts = tmp_path / "proc-mountinfo"
    mounts.write_text("25 1 8:2 / / rw - ext4 /dev/sda2 rw\n")  # as long as the next
    os.utime(mounts, (1_700_000_000, 1_700_000_000))
    relative = "/" + mounts.name

    def ask_lsblk() -> CommandResult:
        return fact_cache.run_cached(
            ctx, ["cat", str(config)], DEPENDS, 3600, 10, contents=(relative,)
        )

    ask_lsblk()
    ask_lsblk()
    assert runner.runs == 1
    size = mounts.stat().st_size
    mounts.write_text("25 1 8:3 / / rw - ext4 /dev/sda3 rw\n")  # same size, same time
    os.utime(mounts, (1_700_000_000, 1_700_000_000))
    assert mounts.stat().st_size == size
    ask_lsblk()
    assert runner.runs == 2
