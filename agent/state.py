"""The agent's state directory: its enrollment (server, agent id, token), readable only by root.

The token is a credential: the file is written atomically with mode 0600 in a directory
with mode 0700, never world-readable, not even for a moment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "agent.json"


def default_state_dir() -> Path:
    if sys.platform.startswith("win"):
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Inventar"
    return Path("/var/lib/inventar")


class StateError(Exception):
    pass


@dataclass(frozen=True)
class AgentState:
    server: str
    agent_id: str
    token: str
    machine_id: str
    site: str | None = None
    ca_file: str | None = None


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def save(state_dir: Path, state: AgentState) -> Path:
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_path(state_dir)
    tmp = state_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
    data = json.dumps(asdict(state), indent=2).encode("utf-8") + b"\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.chmod(0o600)
    tmp.replace(path)
    fsync_dir(state_dir)
    return path


def load(state_dir: Path) -> AgentState:
    path = state_path(state_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StateError(f"{path} does not exist: run `inventar-agent enroll` first") from None
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from None
    try:
        return AgentState(
            server=str(raw["server"]),
            agent_id=str(raw["agent_id"]),
            token=str(raw["token"]),
            machine_id=str(raw["machine_id"]),
            site=raw.get("site"),
            ca_file=raw.get("ca_file"),
        )
    except (KeyError, TypeError) as exc:
        raise StateError(f"{path} is incomplete ({exc}); enroll again") from None


# --- durable small files, the state-dir lock, and the service's status -------------------


def fsync_dir(directory: Path) -> None:
    """Makes a rename or unlink in ``directory`` durable (POSIX; a no-op on Windows)."""
    if sys.platform.startswith("win"):
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Writes ``path`` so that a crash leaves either the old or the new content, never a mix:
    temp file in the same directory, fsync, rename over, fsync the directory."""
    tmp = path.parent / f".tmp-{path.name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    fsync_dir(path.parent)


def remove_temp_files(directory: Path) -> int:
    """Removes temp files that a crash left behind (``.tmp-*``); returns how many."""
    removed = 0
    try:
        names = list(directory.iterdir())
    except FileNotFoundError:
        return 0
    for path in names:
        if path.name.startswith(".tmp-"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class StateLock:
    """An exclusive lock on the state directory, so that a `run --once` and the service never
    work on one outbox at the same time. Released by the kernel when the process dies."""

    def __init__(self, state_dir: Path, timeout_s: float = 120.0):
        self.path = state_dir / "lock"
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def __enter__(self) -> StateLock:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl  # noqa: PLC0415  (POSIX only)
        except ImportError:  # Windows: one agent service per machine; no lock
            self._fd = fd
            return self
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise StateError(
                        f"{self.path} is locked by another inventar-agent process"
                    ) from None
                time.sleep(0.2)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


STATUS_FILE = "status.json"


def token_fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def load_status(state_dir: Path) -> dict[str, Any]:
    """The service's status (last success, last error, revocation); {} if none yet."""
    try:
        raw = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def update_status(state_dir: Path, **fields: Any) -> dict[str, Any]:
    status = load_status(state_dir)
    status.update(fields)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(state_dir / STATUS_FILE, json.dumps(status, indent=2).encode("utf-8") + b"\n")
    return status


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
