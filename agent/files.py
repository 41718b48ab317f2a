"""Reading the machine's files through configurable roots, as node_exporter does.

Probes name files by the path they have on a live system (``/sys/class/dmi/id/sys_vendor``);
a :class:`RootedFiles` maps ``/sys`` to ``--sysfs``, ``/proc`` to ``--procfs`` and every
other absolute path into ``--rootfs``. A captured tree of a real machine is thus a fixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# sysfs attributes and config files are small; an EDID is at most 32 KiB. A bigger file is
# cut rather than read whole, so a strange file cannot blow up the agent's memory.
MAX_FILE_BYTES = 4 * 1024 * 1024
_CHUNK = 64 * 1024


class FileSource(Protocol):
    """Read access to the machine's files by their live path.

    ``read_bytes`` raises FileNotFoundError, PermissionError or OSError like ``open``.
    """

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes: ...

    def listdir(self, path: str) -> list[str]: ...

    def exists(self, path: str) -> bool: ...

    def mtime(self, path: str) -> float: ...


def read_text(files: FileSource, path: str) -> str:
    return files.read_bytes(path).decode("utf-8", errors="replace")


def read_attr(files: FileSource, path: str) -> str | None:
    """A sysfs-style one-line attribute, stripped; None if absent, unreadable or empty."""
    try:
        value = read_text(files, path).strip()
    except OSError:
        return None
    return value or None


def read_limited(path: Path, limit: int) -> bytes:
    """Read at most ``limit`` bytes in modest chunks: /proc/sys refuses one huge read (ENOMEM)."""
    with path.open("rb", buffering=0) as fh:
        return read_chunks(fh, limit)


class Readable(Protocol):
    def read(self, size: int) -> bytes: ...


def read_chunks(fh: Readable, limit: int, chunk_size: int = _CHUNK) -> bytes:
    """At most ``limit`` bytes of an open file, read ``chunk_size`` bytes at a time."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = fh.read(min(chunk_size, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class RootedFiles:
    sysfs: str = "/sys"
    procfs: str = "/proc"
    rootfs: str = "/"

    def resolve(self, path: str) -> Path:
        if not path.startswith("/"):
            raise ValueError(f"probe paths are absolute: {path!r}")
        for prefix, root in (("/sys", self.sysfs), ("/proc", self.procfs)):
            if path == prefix or path.startswith(prefix + "/"):
                return Path(root + path[len(prefix) :])
        return Path(self.rootfs.rstrip("/") + path)

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        return read_limited(self.resolve(path), limit)

    def listdir(self, path: str) -> list[str]:
        return sorted(p.name for p in self.resolve(path).iterdir())

    def exists(self, path: str) -> bool:
        return self.resolve(path).exists()

    def mtime(self, path: str) -> float:
        return self.resolve(path).stat().st_mtime
