"""Support bundles: a machine's answers to every probe, recorded once and replayed anywhere.

Layout of a bundle directory (documented in the README):

    bundle.json     {"format": 1, "platform", "locale", "source", "created_at", "agent_version"}
    commands.json   [{"argv": [...], "exit_code", "error", "stdout": "commands/001.out",
                      "stderr": "commands/001.err"}]
    commands/       each command's output, as text
    files/          each file a probe read, under its live path (files/sys/class/dmi/id/...)
    files.json      {"missing": {path: reason}, "listdir": {path: [names] | null},
                     "exists": {path: bool}, "mtime": {path: seconds}}
    calls.json      {"psutil.virtual_memory": {...}, ...}: library calls' JSON results
    registry.reg    Windows: every registry key a probe read, as a regedit export
                    ("Windows Registry Editor Version 5.00", UTF-16LE; UTF-8 is read too);
                    the 32-bit view under WOW6432Node; a key read but absent as [-KEY]
    update-agent.json  Windows: the Windows Update Agent's answers, as plain JSON:
                    {"search": {criteria: {"value": [...]}}, "history": {"value": [...]},
                     "reboot_required": {"value": true}}; a failed call is {"error": "..."}

Recording wraps a live machine; replay answers from the directory alone, so the same
report comes out on any machine. Replay never reads outside the directory: a bundle is data
from somebody else's machine, and a symbolic link in it (absolute, relative or chained) or a
special file (FIFO, device, socket) would make the replaying machine's own files, or a read
that never ends, the reported value. Such paths are refused; the refusal is in
``collection.errors`` (probe ``files``).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import locale
import os
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agent import __version__
from agent.context import Machine, RegistryReader, UpdateAgent
from agent.files import MAX_FILE_BYTES, FileSource, read_chunks
from agent.parsers import regfile
from agent.registry import RegfileRegistry, view_path
from agent.runner import DEFAULT_TIMEOUT_S, CommandResult
from agent.sources import JSON, NotRecorded, View

T = TypeVar("T")

BUNDLE_FORMAT = 1
# Directory names where the recorded machine's files go; the rest of the path is live.
FILES_DIR = "files"
REGISTRY_FILE = "registry.reg"
UPDATE_AGENT_FILE = "update-agent.json"


class BundleError(ValueError):
    """The directory is not a readable support bundle."""


def _safe_relpath(path: str) -> str:
    """A live absolute path as a path inside files/, refusing anything that climbs out."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or not path.startswith("/"):
        raise BundleError(f"refusing path {path!r}")
    return "/".join(parts)


class Refused(PermissionError):
    """A path in a bundle that replay does not follow: a link or a special file."""


def _regular_inside(root: Path, rel: str) -> os.stat_result | None:
    """The ``lstat`` of ``root/rel`` when it is a regular file reached without following any
    link; None when it does not exist; :class:`Refused` for a link or special file on the way.

    ``root`` is the bundle directory, resolved once; every component below it is checked
    with ``lstat``, so neither a linked file nor a linked directory is followed.
    """
    current = root
    parts = rel.split("/")
    for i, part in enumerate(parts):
        current = current / part
        try:
            info = current.lstat()
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        shown = "/".join(parts[: i + 1])
        if stat.S_ISLNK(info.st_mode):
            raise Refused(errno.ELOOP, "a symbolic link in the support bundle, not followed", shown)
        last = i == len(parts) - 1
        if not last and not stat.S_ISDIR(info.st_mode):
            return None
        if last and not stat.S_ISREG(info.st_mode):
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, "a directory in the support bundle", shown)
            raise Refused(errno.EACCES, "not a regular file in the support bundle", shown)
    return info


def _read_inside(root: Path, rel: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """At most ``limit`` bytes of the regular file ``root/rel``, never through a link."""
    if _regular_inside(root, rel) is None:
        raise FileNotFoundError(errno.ENOENT, "not in the support bundle", rel)
    # O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a FIFO after the check is
    # refused (ELOOP) or cannot block the read; fstat confirms what was opened.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(root / rel, flags | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused(errno.ELOOP, "a symbolic link in the support bundle", rel) from None
        raise
    with os.fdopen(fd, "rb", buffering=0) as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused(errno.EACCES, "not a regular file in the support bundle", rel)
        return read_chunks(fh, limit)


@dataclass
class _Index:
    commands: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    listdir: dict[str, list[str] | None] = field(default_factory=dict)
    exists: dict[str, bool] = field(default_factory=dict)
    mtime: dict[str, float | None] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    registry: regfile.RegFile = field(default_factory=regfile.RegFile)
    update_agent: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Wraps a live machine and writes everything it answers into a bundle directory."""

    def __init__(self, live: Machine, directory: Path, source: str = "") -> None:
        self.live = live
        self.dir = directory
        self.source = source
        self.index = _Index()
        self.lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "commands").mkdir(exist_ok=True)
        (directory / FILES_DIR).mkdir(exist_ok=True)

    def machine(self) -> Machine:
        return Machine(
            runner=_RecordingRunner(self),
            files=_RecordingFiles(self),
            calls=_RecordingCalls(self),
            platform=self.live.platform,
            refusals=self.live.refusals,
            registry=_RecordingRegistry(self),
            update_agent=_RecordingUpdateAgent(self),
        )

    def finish(self) -> None:
        with self.lock:
            meta = {
                "format": BUNDLE_FORMAT,
                "platform": self.live.platform,
                "locale": _current_locale(),
                "source": self.source,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "agent_version": __version__,
            }
            files_index = {
                "missing": self.index.missing,
                "listdir": self.index.listdir,
                "exists": self.index.exists,
                "mtime": self.index.mtime,
            }
            for name, data in (
                ("bundle.json", meta),
                ("commands.json", self.index.commands),
                ("files.json", files_index),
                ("calls.json", self.index.calls),
            ):
                (self.dir / name).write_text(
                    json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8",
                )
            if self.index.registry.keys or self.index.registry.deleted:
                text = regfile.format_file(self.index.registry)
                (self.dir / REGISTRY_FILE).write_bytes(regfile.encode(text))
            if self.index.update_agent:
                (self.dir / UPDATE_AGENT_FILE).write_text(
                    json.dumps(self.index.update_agent, indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8",
                )


def _current_locale() -> str:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(var):
            return os.environ[var]
    return locale.setlocale(locale.LC_MESSAGES) or "C"


@dataclass
class _RecordingRunner:
    rec: Recorder

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        result = self.rec.live.runner.run(argv, timeout=timeout, env=env)
        with self.rec.lock:
            n = len(self.rec.index.commands) + 1
            out, err = f"commands/{n:03d}.out", f"commands/{n:03d}.err"
            (self.rec.dir / out).write_text(result.stdout, encoding="utf-8")
            (self.rec.dir / err).write_text(result.stderr, encoding="utf-8")
            self.rec.index.commands.append(
                {
                    "argv": list(result.argv),
                    "exit_code": result.exit_code,
                    "error": result.error,
                    "stdout": out,
                    "stderr": err,
                }
            )
        return result


@dataclass
class _RecordingFiles:
    rec: Recorder

    @property
    def live(self) -> FileSource:
        return self.rec.live.files

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        try:
            data = self.live.read_bytes(path, limit)
        except OSError as exc:
            with self.rec.lock:
                self.rec.index.missing[path] = errno.errorcode.get(exc.errno or 0, "EIO")
            raise
        target = self.rec.dir / FILES_DIR / _safe_relpath(path)
        with self.rec.lock:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return data

    def _note(self, index: dict[str, Any], path: str, read: Callable[[str], T]) -> T:
        """Reads ``path`` live and records the answer (None for an error, which is raised)."""
        try:
            value = read(path)
        except OSError:
            with self.rec.lock:
                index[path] = None
            raise
        with self.rec.lock:
            index[path] = value
        return value

    def listdir(self, path: str) -> list[str]:
        return self._note(self.rec.index.listdir, path, self.live.listdir)

    def exists(self, path: str) -> bool:
        found = self.live.exists(path)
        with self.rec.lock:
            self.rec.index.exists[path] = found
        return found

    def mtime(self, path: str) -> float:
        return self._note(self.rec.index.mtime, path, self.live.mtime)


@dataclass
class _RecordingCalls:
    rec: Recorder

    def call(self, name: str, fn: Callable[[], JSON]) -> JSON:
        value = self.rec.live.calls.call(name, fn)
        # Round-trip through JSON now, so that replay sees exactly what recording saw.
        value = json.loads(json.dumps(value))
        with self.rec.lock:
            self.rec.index.calls[name] = value
        return value


class _RecordingRegistry:
    """Reads live and notes each key read, in the view's own path (WOW6432Node for 32-bit)."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def _note(self, key: str, view: View, found: bool) -> regfile.RegKey | None:
        path = view_path(key, view)
        reg = self.rec.index.registry
        folded = path.casefold()
        if not found:
            reg.deleted[folded] = path
            reg.keys.pop(folded, None)
            return None
        reg.deleted.pop(folded, None)
        return reg.keys.setdefault(folded, regfile.RegKey(path))

    def values(self, key: str, view: View = 64) -> dict[str, regfile.RegValue] | None:
        values = self.rec.live.registry.values(key, view)
        with self.rec.lock:
            entry = self._note(key, view, values is not None)
            if entry is not None and values is not None:
                for name, value in values.items():
                    entry.values[name.casefold()] = (name, value)
        return values

    def subkeys(self, key: str, view: View = 64) -> list[str] | None:
        names = self.rec.live.registry.subkeys(key, view)
        with self.rec.lock:
            self._note(key, view, names is not None)
            for name in names or []:
                child = f"{key}\\{name}"
                if regfile.fold(view_path(child, view)) not in self.rec.index.registry.keys:
                    self._note(child, view, True)
        return names


class _RecordingUpdateAgent:
    """Calls the live agent and keeps each answer, or the error it raised, as JSON."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def _keep(self, slot: dict[str, Any], key: str, fn: Callable[[], T]) -> T:
        try:
            value = fn()
        except Exception as exc:  # a COM error is recorded and replayed as such
            with self.rec.lock:
                slot[key] = {"error": f"{type(exc).__name__}: {exc}"[:4000]}
            raise
        with self.rec.lock:
            slot[key] = {"value": json.loads(json.dumps(value))}
        return value

    def search(self, criteria: str) -> list[dict[str, JSON]]:
        slot = self.rec.index.update_agent.setdefault("search", {})
        return self._keep(slot, criteria, lambda: self.rec.live.update_agent.search(criteria))

    def history(self, count: int) -> list[dict[str, JSON]]:
        slot = self.rec.index.update_agent
        return self._keep(slot, "history", lambda: self.rec.live.update_agent.history(count))

    def reboot_required(self) -> bool:
        slot = self.rec.index.update_agent
        return self._keep(slot, "reboot_required", self.rec.live.update_agent.reboot_required)


# --- replay -------------------------------------------------------------------------------


# An index file of a real bundle is at most a few MiB (commands.json of a Windows machine).
MAX_INDEX_BYTES = 64 * 1024 * 1024


def _load_json(directory: Path, name: str, default: Any) -> Any:
    path = directory / name
    try:
        data = _read_inside(directory, name, MAX_INDEX_BYTES)
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise BundleError(f"{path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise BundleError(f"{path}: {exc}") from exc


def open_bundle(directory: Path) -> Machine:
    """A machine that answers from a recorded bundle; raises BundleError if it is not one.

    Paths the bundle holds but replay refuses (links, special files) are noted in the
    machine's ``refusals`` and become ``collection.errors`` of the report.
    """
    directory = directory.resolve()
    meta = _load_json(directory, "bundle.json", None)
    if not isinstance(meta, dict):
        raise BundleError(f"{directory}: no bundle.json, not a support bundle")
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{directory}: bundle format {meta.get('format')!r} is not supported")
    platform = meta.get("platform")
    if platform not in ("linux", "windows", "darwin"):
        raise BundleError(f"{directory}: unknown platform {platform!r}")
    commands = _load_json(directory, "commands.json", [])
    files_index = _load_json(directory, "files.json", {})
    calls = _load_json(directory, "calls.json", {})
    refusals: list[str] = []
    return Machine(
        runner=_ReplayRunner(directory, commands, refusals),
        files=_ReplayFiles(directory, files_index, refusals),
        calls=_ReplayCalls(calls),
        platform=platform,
        refusals=refusals,
        registry=_replay_registry(directory, refusals),
        update_agent=_replay_update_agent(directory, refusals),
    )


class _BrokenPart:
    """A bundle part that could not be read: every read of it says why (and the other parts
    still replay)."""

    def __init__(self, reason: str, refusals: list[str] | None = None) -> None:
        self.reason = reason
        # A refused part (a link) is noted where the report collects refusals: at first read.
        self.refusals = refusals

    def _fail(self) -> NotRecorded:
        if self.refusals is not None:
            self.refusals.append(self.reason)
            self.refusals = None
        return NotRecorded(self.reason)

    def values(self, key: str, view: View = 64) -> dict[str, regfile.RegValue] | None:
        raise self._fail()

    def subkeys(self, key: str, view: View = 64) -> list[str] | None:
        raise self._fail()

    def search(self, criteria: str) -> list[dict[str, JSON]]:
        raise self._fail()

    def history(self, count: int) -> list[dict[str, JSON]]:
        raise self._fail()

    def reboot_required(self) -> bool:
        raise self._fail()


def _part(directory: Path, name: str, refusals: list[str]) -> bytes | _BrokenPart:
    """The bytes of a bundle part, or what every read of it will say instead."""
    try:
        return _read_inside(directory, name, MAX_INDEX_BYTES)
    except FileNotFoundError:
        return _BrokenPart(f"the support bundle has no {name}")
    except Refused as exc:
        return _BrokenPart(f"{exc.filename}: {exc.strerror}; refused", refusals)
    except OSError as exc:
        return _BrokenPart(f"{name}: {exc.strerror or exc}")


def _replay_registry(directory: Path, refusals: list[str]) -> RegistryReader:
    data = _part(directory, REGISTRY_FILE, refusals)
    if isinstance(data, _BrokenPart):
        return data
    try:
        return RegfileRegistry(regfile.parse(data), f"the support bundle's {REGISTRY_FILE}")
    except (regfile.RegFileError, UnicodeDecodeError) as exc:
        return _BrokenPart(f"{REGISTRY_FILE}: {exc}")


def _replay_update_agent(directory: Path, refusals: list[str]) -> UpdateAgent:
    data = _part(directory, UPDATE_AGENT_FILE, refusals)
    if isinstance(data, _BrokenPart):
        return data
    try:
        answers = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        return _BrokenPart(f"{UPDATE_AGENT_FILE}: {exc}")
    if not isinstance(answers, dict):
        return _BrokenPart(f"{UPDATE_AGENT_FILE}: not a JSON object")
    return _ReplayUpdateAgent(answers)


class ReplayedError(RuntimeError):
    """A call that failed on the recorded machine fails the same way in replay."""


class _ReplayUpdateAgent:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def _answer(self, slot: Any, key: str, what: str) -> Any:
        entry = slot.get(key) if isinstance(slot, dict) else None
        if not isinstance(entry, dict):
            raise NotRecorded(f"Windows Update Agent {what} is not in the support bundle")
        if "error" in entry:
            raise ReplayedError(str(entry["error"]))
        if "value" not in entry:
            raise NotRecorded(f"{UPDATE_AGENT_FILE}: {what} without a value or error")
        return entry["value"]

    def search(self, criteria: str) -> list[dict[str, JSON]]:
        value = self._answer(self.answers.get("search"), criteria, f"search {criteria!r}")
        return _records(value, f"search {criteria!r}")

    def history(self, count: int) -> list[dict[str, JSON]]:
        return _records(self._answer(self.answers, "history", "history"), "history")[:count]

    def reboot_required(self) -> bool:
        value = self._answer(self.answers, "reboot_required", "reboot_required")
        if not isinstance(value, bool):
            raise NotRecorded(f"{UPDATE_AGENT_FILE}: reboot_required is not true or false")
        return value


def _records(value: Any, what: str) -> list[dict[str, JSON]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise NotRecorded(f"{UPDATE_AGENT_FILE}: {what} is not a list of objects")
    return value


def _refusal(refusals: list[str], exc: Refused) -> None:
    refusals.append(f"{exc.filename}: {exc.strerror}; refused")


class _ReplayRunner:
    def __init__(
        self, directory: Path, commands: list[dict[str, Any]], refusals: list[str]
    ) -> None:
        self.refusals = refusals
        self.results: dict[tuple[str, ...], CommandResult | Refused] = {}
        for entry in commands:
            argv = tuple(str(a) for a in entry.get("argv", []))
            # The last recording of the same argv wins, as it is what the probe last saw.
            try:
                self.results[argv] = CommandResult(
                    argv,
                    entry.get("exit_code"),
                    self._text(directory, entry.get("stdout")),
                    self._text(directory, entry.get("stderr")),
                    entry.get("error"),
                )
            except Refused as exc:  # noted when a probe runs the command
                self.results[argv] = exc

    @staticmethod
    def _text(directory: Path, rel: object) -> str:
        if not rel:
            return ""
        try:
            data = _read_inside(directory, _safe_relpath("/" + str(rel)))
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", errors="replace")

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        key = tuple(argv)
        result = self.results.get(key)
        if result is None:
            return CommandResult(key, None, error="not in the support bundle")
        if isinstance(result, Refused):
            _refusal(self.refusals, result)
            return CommandResult(key, None, error=f"output refused: {result.strerror}")
        return result


class _ReplayFiles:
    def __init__(self, directory: Path, index: dict[str, Any], refusals: list[str]) -> None:
        self.directory = directory
        self.refusals = refusals
        self.missing: dict[str, str] = index.get("missing", {})
        self.listdirs: dict[str, list[str] | None] = index.get("listdir", {})
        self.existing: dict[str, bool] = index.get("exists", {})
        self.mtimes: dict[str, float | None] = index.get("mtime", {})

    def _rel(self, path: str) -> str:
        return f"{FILES_DIR}/{_safe_relpath(path)}"

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        reason = self.missing.get(path)
        if reason is not None:
            code = getattr(errno, reason, errno.ENOENT)
            raise OSError(code, os.strerror(code), path)
        try:
            return _read_inside(self.directory, self._rel(path), limit)
        except Refused as exc:
            _refusal(self.refusals, exc)
            raise

    def listdir(self, path: str) -> list[str]:
        if path in self.listdirs:
            names = self.listdirs[path]
            if names is None:
                raise FileNotFoundError(errno.ENOENT, "not found", path)
            return list(names)
        raise FileNotFoundError(errno.ENOENT, "not in the support bundle", path)

    def exists(self, path: str) -> bool:
        if path in self.existing:
            return self.existing[path]
        if path in self.listdirs:
            return True
        try:
            return _regular_inside(self.directory, self._rel(path)) is not None
        except IsADirectoryError:
            return True
        except Refused as exc:
            _refusal(self.refusals, exc)
            return False

    def mtime(self, path: str) -> float:
        value = self.mtimes.get(path)
        if value is None:
            raise FileNotFoundError(errno.ENOENT, "not in the support bundle", path)
        return float(value)


@dataclass
class _ReplayCalls:
    answers: dict[str, Any]

    def call(self, name: str, fn: Callable[[], JSON]) -> JSON:
        if name not in self.answers:
            raise NotRecorded(f"{name} is not in the support bundle")
        return self.answers[name]
