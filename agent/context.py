"""What a probe gets to read the machine with, and where it reports what it could not read.

A probe touches the machine only through its :class:`ProbeContext`: commands through the
runner, files through the rooted file source, library calls (psutil, socket) through
:meth:`ProbeContext.call`, and on Windows the registry (:class:`RegistryReader`) and the
Windows Update Agent's COM objects (:class:`UpdateAgent`). That is what makes every probe
recordable into a support bundle and replayable from one.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from agent.files import FileSource, RootedFiles, read_attr, read_text
from agent.runner import DEFAULT_TIMEOUT_S, CommandResult, LocalRunner, Runner
from agent.sources import JSON, NotRecorded, Unavailable, View

if TYPE_CHECKING:  # the registry file parser is for Windows and support bundles only
    from agent.parsers.regfile import RegValue


class CallSource(Protocol):
    """Library calls whose JSON-able result is recorded into, and replayed from, a bundle."""

    def call(self, name: str, fn: Callable[[], JSON]) -> JSON: ...


class LiveCalls:
    def call(self, name: str, fn: Callable[[], JSON]) -> JSON:
        return fn()


class RegistryReader(Protocol):
    """The Windows registry, read-only. Paths begin with the hive (``HKLM\\SOFTWARE\\...``).

    Both methods return None for a key that does not exist; they raise :class:`NotRecorded`
    when a replayed bundle holds no answer, and OSError when Windows refuses the read.
    """

    def values(self, key: str, view: View = 64) -> dict[str, RegValue] | None:
        """The key's values by name (the default value is ``""``)."""
        ...

    def subkeys(self, key: str, view: View = 64) -> list[str] | None: ...


class UpdateAgent(Protocol):
    """The Windows Update Agent (``Microsoft.Update.Session``, ``Microsoft.Update.SystemInfo``),
    as the plain properties a probe reads: dicts of JSON values, keyed by the COM property
    names. Raises :class:`NotRecorded` in replay, any other exception for a failed COM call."""

    def search(self, criteria: str) -> list[dict[str, JSON]]:
        """``IUpdateSearcher.Search(criteria).Updates``: Title, KBArticleIDs, MsrcSeverity,
        CategoryIDs, RebootRequired, UpdateID."""
        ...

    def history(self, count: int) -> list[dict[str, JSON]]:
        """The newest ``count`` entries of ``IUpdateSearcher.QueryHistory``: Title, Date (ISO
        8601, UTC), Operation, ResultCode, CategoryIDs, UpdateID."""
        ...

    def reboot_required(self) -> bool:
        """``ISystemInformation.RebootRequired``."""
        ...


class NoRegistry:
    def values(self, key: str, view: View = 64) -> dict[str, RegValue] | None:
        raise Unavailable(f"{key}: no Windows registry on this machine")

    def subkeys(self, key: str, view: View = 64) -> list[str] | None:
        raise Unavailable(f"{key}: no Windows registry on this machine")


class NoUpdateAgent:
    def _none(self) -> Unavailable:
        return Unavailable("no Windows Update Agent on this machine")

    def search(self, criteria: str) -> list[dict[str, JSON]]:
        raise self._none()

    def history(self, count: int) -> list[dict[str, JSON]]:
        raise self._none()

    def reboot_required(self) -> bool:
        raise self._none()


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
    registry: RegistryReader = field(default_factory=NoRegistry)
    update_agent: UpdateAgent = field(default_factory=NoUpdateAgent)


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

    def reg_values(self, key: str, view: View = 64) -> dict[str, RegValue] | None:
        """A registry key's values; None when the key is absent (normal) or could not be
        read (then with an error entry). :meth:`reg_read` tells the two apart."""
        return self.reg_read(key, view)[0]

    def reg_read(self, key: str, view: View = 64) -> tuple[dict[str, RegValue] | None, bool]:
        """(values or None, whether the key could be read at all)."""
        try:
            return self.machine.registry.values(key, view), True
        except (NotRecorded, Unavailable) as exc:
            self.error(str(exc))
        except (OSError, ValueError) as exc:
            self.error(f"{key}: {type(exc).__name__}: {exc}")
        return None, False

    def reg_subkeys(self, key: str, view: View = 64) -> list[str] | None:
        try:
            return self.machine.registry.subkeys(key, view)
        except (NotRecorded, Unavailable) as exc:
            self.error(str(exc))
        except (OSError, ValueError) as exc:
            self.error(f"{key}: {type(exc).__name__}: {exc}")
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


def _platform() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "darwin"
    return "linux"


def live_machine(sysfs: str = "/sys", procfs: str = "/proc", rootfs: str = "/") -> Machine:
    """This machine, read live: commands run here, files under the given roots (as
    ``collect --sysfs/--procfs/--rootfs`` give them), and on Windows the registry and the
    Windows Update Agent."""
    files = RootedFiles(sysfs, procfs, rootfs)
    platform = _platform()
    machine = Machine(LocalRunner(), files, LiveCalls(), platform, refusals=files.refusals)
    if platform == "windows":
        # winreg and comtypes are imported by these only when a probe first reads.
        from agent.registry import LiveRegistry  # noqa: PLC0415
        from agent.wua import LiveUpdateAgent  # noqa: PLC0415

        machine.registry = LiveRegistry()
        machine.update_agent = LiveUpdateAgent()
    return machine
