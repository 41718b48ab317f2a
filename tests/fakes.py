"""Test doubles for the machine: commands answered from fixtures of real output."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.context import ErrorLog, Machine, ProbeContext
from agent.files import RootedFiles
from agent.runner import CommandResult
from agent.sources import JSON, NotRecorded

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class FixtureRunner:
    """Answers each argv with a canned result; any other command is 'not-found'.

    ``calls`` records what was asked, so a test can check which commands a probe ran.
    """

    answers: dict[tuple[str, ...], CommandResult] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def add(
        self, argv: Sequence[str], stdout: str = "", exit_code: int = 0, stderr: str = ""
    ) -> FixtureRunner:
        key = tuple(argv)
        self.answers[key] = CommandResult(key, exit_code, stdout, stderr)
        return self

    def add_file(
        self, argv: Sequence[str], fixture: str | Path, exit_code: int = 0
    ) -> FixtureRunner:
        text = (FIXTURES / fixture).read_text(encoding="utf-8")
        return self.add(argv, text, exit_code)

    def run(
        self, argv: Sequence[str], timeout: float = 0, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        key = tuple(argv)
        self.calls.append(key)
        return self.answers.get(key, CommandResult(key, None, error="not-found"))


@dataclass
class FixtureCalls:
    """Library calls answered from a dict; unknown names raise NotRecorded."""

    answers: dict[str, Any] = field(default_factory=dict)

    def call(self, name: str, fn: Callable[[], JSON]) -> JSON:
        if name not in self.answers:
            raise NotRecorded(name)
        return self.answers[name]


def machine(
    runner: FixtureRunner | None = None,
    root: str | Path | None = None,
    calls: dict[str, Any] | None = None,
    platform: str = "linux",
) -> Machine:
    """A machine whose files all live under ``root`` (sys/, proc/ and the rest beneath it)."""
    base = str(root) if root is not None else "/nonexistent-fixture-root"
    files = RootedFiles(sysfs=f"{base}/sys", procfs=f"{base}/proc", rootfs=base)
    return Machine(runner or FixtureRunner(), files, FixtureCalls(calls or {}), platform)


def context(m: Machine, probe: str = "test") -> tuple[ProbeContext, ErrorLog]:
    errors = ErrorLog()
    return ProbeContext(m, probe, errors), errors
