"""The durable outbox: every report is on disk before it is sent, and leaves only once the
collector acknowledged it.

One file per report in ``<state dir>/spool``, named ``<sequence>-<kind>.json`` (sequence
zero-padded, so names sort oldest first; kind ``full`` or ``light``). A file is written
atomically (temp file, fsync, rename, fsync of the directory), so a crash or power loss
leaves either the whole file or none; leftover temp files are removed at start. A file
that still does not parse (a torn write on a file system that broke its promises, a disk
error) is moved to ``spool/corrupt/`` with a log line, never sent and never silently lost.

Bounded by total size and age: past a bound the oldest *light* reports go first, then older
full inventories; the newest full inventory is never dropped. Every drop is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from agent.schema import SECTIONS
from agent.state import atomic_write, fsync_dir, remove_temp_files

log = logging.getLogger(__name__)

Kind = Literal["full", "light"]
FORMAT = 1
NAME = re.compile(r"^(\d{12})-(full|light)\.json$")
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_AGE_S = 30 * 86400.0


@dataclass(frozen=True)
class Entry:
    seq: int
    kind: Kind
    path: Path
    size: int
    queued_at: float  # epoch seconds


@dataclass(frozen=True)
class Envelope:
    kind: Kind
    sections: list[str]  # the sections this report collected (fresh)
    report: dict[str, Any]  # the report as JSON data (agent.schema.to_data)
    queued_at: float


class Spool:
    def __init__(
        self,
        directory: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_s: float = DEFAULT_MAX_AGE_S,
    ):
        self.dir = directory
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._entries: list[Entry] = []
        self._next_seq = 1
        self._opened = False

    # -- start ---------------------------------------------------------------------------

    def open(self) -> Spool:
        """Creates the directory, removes temp files, loads and checks every entry."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        removed = remove_temp_files(self.dir)
        if removed:
            log.info("spool: removed %d temp file(s) left by an interrupted write", removed)
        entries = []
        for path in sorted(self.dir.iterdir()):
            match = NAME.match(path.name)
            if match is None:
                continue
            envelope = self._read(path)
            if envelope is None:
                continue
            kind: Kind = "full" if match.group(2) == "full" else "light"
            entries.append(
                Entry(int(match.group(1)), kind, path, path.stat().st_size, envelope.queued_at)
            )
        self._entries = sorted(entries, key=lambda e: e.seq)
        last = self._entries[-1].seq if self._entries else 0
        self._next_seq = max(last + 1, self._first_seq())
        self._opened = True
        return self

    def _read(self, path: Path) -> Envelope | None:
        """The entry's content, or None after moving a torn/invalid file aside."""
        try:
            raw = msgspec.json.decode(path.read_bytes())
            if not isinstance(raw, dict) or raw.get("format") != FORMAT:
                raise ValueError(f"not a spool entry of format {FORMAT}")
            kind = raw["kind"]
            sections = raw["sections"]
            report = raw["report"]
            if kind not in ("full", "light") or not isinstance(report, dict):
                raise ValueError("bad kind or report")
            if not isinstance(sections, list) or not set(sections) <= set(SECTIONS):
                raise ValueError("bad sections")
            if not isinstance(report.get("report_id"), str):
                raise ValueError("report without report_id")
            return Envelope(kind, list(sections), report, float(raw["queued_at"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._move_aside(path, "corrupt", f"unreadable ({exc})")
            return None

    def _move_aside(self, path: Path, folder: str, why: str) -> None:
        target_dir = self.dir / folder
        target_dir.mkdir(mode=0o700, exist_ok=True)
        target = target_dir / f"{path.name}.{int(time.time())}"
        try:
            path.replace(target)
            fsync_dir(self.dir)
        except OSError as exc:
            log.error("spool: cannot move %s to %s: %s", path.name, target_dir, exc)
            return
        log.warning("spool: %s %s; moved to %s", path.name, why, target)

    # -- queue ---------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """Queued reports, oldest first."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def total_bytes(self) -> int:
        return sum(e.size for e in self._entries)

    def put(self, kind: Kind, sections: list[str], report: dict[str, Any]) -> Entry:
        """Queues one report durably; returns when it is on disk."""
        assert self._opened, "open() the spool first"
        seq = self._next_seq
        self._next_seq += 1
        queued_at = time.time()
        envelope = {
            "format": FORMAT,
            "kind": kind,
            "sections": sections,
            "queued_at": queued_at,
            "report": report,
        }
        data = msgspec.json.encode(envelope)
        path = self.dir / f"{seq:012d}-{kind}.json"
        atomic_write(path, data)
        entry = Entry(seq, kind, path, len(data), queued_at)
        self._entries.append(entry)
        self.enforce_bounds()
        return entry

    def _first_seq(self) -> int:
        # Continue after anything moved aside, so names never repeat within a directory.
        seqs = [0]
        for folder in ("corrupt", "rejected"):
            for path in (self.dir / folder).glob("*.json.*"):
                match = NAME.match(path.name.rsplit(".", 1)[0])
                if match:
                    seqs.append(int(match.group(1)))
        return max(seqs) + 1

    def load(self, entry: Entry) -> Envelope | None:
        envelope = self._read(entry.path)
        if envelope is None:
            self._forget(entry)
        return envelope

    def remove(self, entry: Entry) -> None:
        """Removes an acknowledged report."""
        entry.path.unlink(missing_ok=True)
        fsync_dir(self.dir)
        self._forget(entry)

    def reject(self, entry: Entry, reason: str) -> None:
        """Moves a report the collector refused for good to ``spool/rejected/``."""
        self._move_aside(entry.path, "rejected", f"refused by the collector: {reason}")
        self._forget(entry)

    def drop(self, entry: Entry, reason: str) -> None:
        log.warning("spool: dropped %s report %s: %s", entry.kind, entry.path.name, reason)
        entry.path.unlink(missing_ok=True)
        fsync_dir(self.dir)
        self._forget(entry)

    def _forget(self, entry: Entry) -> None:
        self._entries = [e for e in self._entries if e.seq != entry.seq]

    def has_full(self) -> bool:
        return any(e.kind == "full" for e in self._entries)

    # -- bounds --------------------------------------------------------------------------

    def enforce_bounds(self, now: float | None = None) -> list[Entry]:
        """Drops what exceeds the age and size bounds: oldest light reports first, then
        older full inventories; never the newest full inventory. Returns what it dropped."""
        now = time.time() if now is None else now
        fulls = [e for e in self._entries if e.kind == "full"]
        keep = fulls[-1].seq if fulls else None
        order = [e for e in self._entries if e.kind == "light"]
        order += [e for e in fulls if e.seq != keep]
        dropped: list[Entry] = []
        total = self.total_bytes()
        for entry in order:
            too_old = now - entry.queued_at > self.max_age_s
            if not too_old and total <= self.max_bytes:
                continue
            dropped.append(entry)
            total -= entry.size
        if not dropped:
            return []
        for entry in dropped:
            entry.path.unlink(missing_ok=True)
            self._forget(entry)
        fsync_dir(self.dir)
        kinds = {k: sum(1 for e in dropped if e.kind == k) for k in ("light", "full")}
        oldest = dt.datetime.fromtimestamp(min(e.queued_at for e in dropped), dt.UTC)
        log.warning(
            "spool: dropped %d light and %d full report(s), queued since %s, to stay within "
            "%d bytes and %g days (oldest light reports first; the newest full inventory is "
            "kept); %d report(s) remain",
            kinds["light"],
            kinds["full"],
            oldest.isoformat(timespec="seconds"),
            self.max_bytes,
            self.max_age_s / 86400,
            len(self._entries),
        )
        return dropped


def peek(directory: Path) -> tuple[int, int, float | None]:
    """(count, bytes, oldest queued time) of a spool, by file names only; changes nothing."""
    count = size = 0
    oldest: float | None = None
    try:
        paths = list(directory.iterdir())
    except FileNotFoundError:
        return 0, 0, None
    for path in paths:
        if NAME.match(path.name):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            count += 1
            size += st.st_size
            oldest = st.st_mtime if oldest is None else min(oldest, st.st_mtime)
    return count, size, oldest
