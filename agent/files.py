"""Reading the machine's files through configurable roots, as node_exporter does.

Probes name files by the path they have on a live system (``/sys/class/dmi/id/sys_vendor``);
a :class:`RootedFiles` maps ``/sys`` to ``--sysfs``, ``/proc`` to ``--procfs`` and every
other absolute path into ``--rootfs``. A captured tree of a real machine is thus a fixture.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
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


_LIVE_ROOTS = frozenset({"", "/sys", "/proc"})


@dataclass(frozen=True)
class RootedFiles:
    """The machine's files below three roots. A link inside a root that leads out of it (an
    absolute link in a captured tree points into the *reading* machine) is not followed: the
    read is refused, noted in ``refusals`` (they become ``collection.errors``), and nothing
    from outside the root is reported or recorded into a bundle."""

    sysfs: str = "/sys"
    procfs: str = "/proc"
    rootfs: str = "/"
    refusals: list[str] = field(default_factory=list, compare=False, repr=False)

    def _rooted(self, path: str) -> tuple[Path, str]:
        """The path below its root, and that root."""
        if not path.startswith("/"):
            raise ValueError(f"probe paths are absolute: {path!r}")
        for prefix, root in (("/sys", self.sysfs), ("/proc", self.procfs)):
            if path == prefix or path.startswith(prefix + "/"):
                return Path(root + path[len(prefix) :]), root
        return Path(self.rootfs.rstrip("/") + path), self.rootfs

    def resolve(self, path: str) -> Path:
        return self._rooted(path)[0]

    def _confined(self, path: str) -> Path:
        """The path to open, refused when following its links leaves its root."""
        target, root = self._rooted(path)
        # The live machine's own root and kernel trees: nothing is outside them (and sysfs
        # is links all the way; resolving each cost the service a fifth of a status report).
        if root.rstrip("/") in _LIVE_ROOTS:
            return target
        real, real_root = os.path.realpath(target), os.path.realpath(root)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            self.refusals.append(f"{path}: a link out of {root} (to {real}), not followed; refused")
            raise PermissionError(errno.EACCES, f"a link out of {root}, not followed", path)
        return target

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        return read_limited(self._confined(path), limit)

    def listdir(self, path: str) -> list[str]:
        return sorted(p.name for p in self._confined(path).iterdir())

    def exists(self, path: str) -> bool:
        try:
            return self._confined(path).exists()
        except PermissionError:
            return False

    def mtime(self, path: str) -> float:
        return self._confined(path).stat().st_mtime
