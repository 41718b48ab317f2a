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

Recording wraps a live machine; replay answers from the directory alone, so the same
report comes out on any machine.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import locale
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agent import __version__
from agent.context import JSON, Machine, NotRecorded
from agent.files import MAX_FILE_BYTES, FileSource, read_limited
from agent.runner import DEFAULT_TIMEOUT_S, CommandResult

T = TypeVar("T")

BUNDLE_FORMAT = 1
# Directory names where the recorded machine's files go; the rest of the path is live.
FILES_DIR = "files"


class BundleError(ValueError):
    """The directory is not a readable support bundle."""


def _safe_relpath(path: str) -> str:
    """A live absolute path as a path inside files/, refusing anything that climbs out."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or not path.startswith("/"):
        raise BundleError(f"refusing path {path!r}")
    return "/".join(parts)


@dataclass
class _Index:
    commands: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    listdir: dict[str, list[str] | None] = field(default_factory=dict)
    exists: dict[str, bool] = field(default_factory=dict)
    mtime: dict[str, float | None] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)


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


# --- replay -------------------------------------------------------------------------------


def _load_json(directory: Path, name: str, default: Any) -> Any:
    path = directory / name
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: {exc}") from exc


def open_bundle(directory: Path) -> Machine:
    """A machine that answers from a recorded bundle; raises BundleError if it is not one."""
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
    return Machine(
        runner=_ReplayRunner(directory, commands),
        files=_ReplayFiles(directory, files_index),
        calls=_ReplayCalls(calls),
        platform=platform,
    )


class _ReplayRunner:
    def __init__(self, directory: Path, commands: list[dict[str, Any]]) -> None:
        self.results: dict[tuple[str, ...], CommandResult] = {}
        for entry in commands:
            argv = tuple(str(a) for a in entry.get("argv", []))

            def text(key: str, entry: dict[str, Any] = entry) -> str:
                rel = entry.get(key)
                if not rel:
                    return ""
                return (directory / _safe_relpath("/" + str(rel))).read_text(
                    encoding="utf-8", errors="replace"
                )

            # The last recording of the same argv wins, as it is what the probe last saw.
            self.results[argv] = CommandResult(
                argv, entry.get("exit_code"), text("stdout"), text("stderr"), entry.get("error")
            )

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        key = tuple(argv)
        return self.results.get(key, CommandResult(key, None, error="not in the support bundle"))


class _ReplayFiles:
    def __init__(self, directory: Path, index: dict[str, Any]) -> None:
        self.root = directory / FILES_DIR
        self.missing: dict[str, str] = index.get("missing", {})
        self.listdirs: dict[str, list[str] | None] = index.get("listdir", {})
        self.existing: dict[str, bool] = index.get("exists", {})
        self.mtimes: dict[str, float | None] = index.get("mtime", {})

    def _path(self, path: str) -> Path:
        return self.root / _safe_relpath(path)

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        reason = self.missing.get(path)
        if reason is not None:
            code = getattr(errno, reason, errno.ENOENT)
            raise OSError(code, os.strerror(code), path)
        return read_limited(self._path(path), limit)

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
        return self._path(path).exists() or path in self.listdirs

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
