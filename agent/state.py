"""The agent's state directory: its enrollment (server, agent id, token), readable only by root.

The token is a credential: the file is written atomically with mode 0600 in a directory
with mode 0700, never world-readable, not even for a moment.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

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
