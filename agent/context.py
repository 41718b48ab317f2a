"""What a probe gets to read the machine with, and where it reports what it could not read.

A probe touches the machine only through its :class:`ProbeContext`: commands through the
runner, files through the rooted file source, library calls (psutil, socket) through
:meth:`ProbeContext.call`. That is what makes every probe recordable into a support bundle
and replayable from one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.files import FileSource, read_attr, read_text
from agent.runner import DEFAULT_TIMEOUT_S, CommandResult, Runner

JSON = Any


class NotRecorded(LookupError):
    """A replayed bundle holds no answer for this call."""


class CallSource(Protocol):
    """Library calls whose JSON-able result is recorded into, and replayed from, a bundle."""

    def call(self, name: str, fn: Callable[[], JSON]) -> JSON: ...


class LiveCalls:
    def call(self, name: str, fn: Callable[[], JSON]) -> JSON:
        return fn()


@dataclass
class ErrorLog:
    """``collection.errors`` as probes fill it, possibly from several threads."""

    entries: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, probe: str, message: str) -> None:
        with self._lock:
            self.entries.append((probe, message[:4000]))


@dataclass
class Machine:
    """The machine a report is collected from: live, recorded, replayed or remote."""

    runner: Runner
    files: FileSource
    calls: CallSource
    platform: str  # "linux", "windows" or "darwin"
    # What this machine's file source refused to read (a replayed bundle's links and special
    # files, a rooted tree's links out of its root); each becomes a ``collection.errors`` entry.
    refusals: list[str] = field(default_factory=list)


@dataclass
class ProbeContext:
    machine: Machine
    probe: str
    errors: ErrorLog

    @property
    def files(self) -> FileSource:
        return self.machine.files

    def error(self, message: str) -> None:
        self.errors.add(self.probe, message)

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        return self.machine.runner.run(argv, timeout=timeout, env=env)

    def output(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        ok_codes: tuple[int, ...] = (0,),
    ) -> str | None:
        """A command's stdout, or None with an error entry when it did not succeed."""
        result = self.run(argv, timeout=timeout)
        if result.exit_code in ok_codes:
            return result.stdout
        self.error(result.describe())
        return None

    def call(self, name: str, fn: Callable[[], JSON]) -> JSON:
        return self.machine.calls.call(name, fn)

    def fact(self, name: str, fn: Callable[[], JSON]) -> JSON:
        """A library call's result, or None with an error entry when it failed."""
        try:
            return self.call(name, fn)
        except NotRecorded as exc:
            self.error(str(exc))
        except Exception as exc:  # psutil raises its own errors besides OSError
            self.error(f"{name}: {type(exc).__name__}: {exc}")
        return None

    def attr(self, path: str) -> str | None:
        """A one-line sysfs/procfs attribute or None (absent attributes are normal)."""
        return read_attr(self.files, path)

    def text(self, path: str, *, required: bool = False) -> str | None:
        """A whole text file, or None; a required file that is missing becomes an error."""
        try:
            return read_text(self.files, path)
        except OSError as exc:
            if required:
                self.error(f"{path}: {exc.strerror or exc}")
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            return self.files.listdir(path)
        except OSError:
            return []

    def exists(self, path: str) -> bool:
        return self.files.exists(path)
