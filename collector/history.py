"""A host's history as changes (``host_history``, ``host_changes``) and the reports received
(``report_receipts``): written by ingest, read by the API, pruned by collector.retention.

The current state (collector.current_state) is what every reader uses; the history keeps,
per report that changed a section's stable content (collector.sections: volatile fields
alone change nothing here), the changed sections after the report and before it, as
zlib-compressed JSON, and a full snapshot for a host's first report and for a full
inventory that differs from the state. The section before a report is compressed with the
section after it as zlib's preset dictionary: for a package updated among 300 it costs a
few dozen bytes, and every row can be read alone, so pruning old rows never breaks a
rebuild of a newer report.

A host's state after one of its reports is rebuilt (:class:`Rebuilder`) from the rows: each
section as the last row at or before the report left it; a section no such row holds is as
the next row holding it found it (its ``previous``), or as it is now if it never changed
since. Volatile values are as last stored with a change.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from agent.schema import SCHEMA_VERSION, SECTIONS
from collector import fastjson
from collector.changes import Change
from collector.models import HostChange, HostHistory, ReportReceipt, table_of

_HISTORY = table_of(HostHistory)
_CHANGES = table_of(HostChange)
_RECEIPTS = table_of(ReportReceipt)

# How the receipts store a report's source (a small number: one row per report).
SOURCES = ("agent", "ssh", "import")
# The agent keeps an unacknowledged report in its outbox up to 30 days; its report id is
# known this long, so that a late resend is still a duplicate.
RECEIPT_DAYS = 45
_ZLIB_LEVEL = 1  # 3x faster than 6, ~10 % larger (benchmarks/history.py: well under the goal)

_INSERT_HISTORY = sa.insert(_HISTORY)
_INSERT_CHANGES = sa.insert(_CHANGES)
_INSERT_RECEIPT = sa.insert(_RECEIPTS)


def source_code(source: str) -> int:
    return SOURCES.index(source) if source in SOURCES else 0


# --- encoding -------------------------------------------------------------------------------


def sections_text(sections: Mapping[str, bytes | str]) -> bytes:
    """A JSON object of sections from each one's JSON text, without parsing them again."""
    parts = [
        json.dumps(name).encode() + b":" + (data if isinstance(data, bytes) else data.encode())
        for name, data in sections.items()
    ]
    return b"{" + b",".join(parts) + b"}"


def pack(after: bytes, before: bytes | None) -> tuple[bytes, bytes | None]:
    """The history row's ``data`` and ``previous``: ``before`` compressed with ``after`` as
    the preset dictionary (it differs from it in a few entries, mostly)."""
    data = zlib.compress(after, _ZLIB_LEVEL)
    if before is None:
        return data, None
    packer = zlib.compressobj(_ZLIB_LEVEL, zdict=after)
    return data, packer.compress(before) + packer.flush()


def unpack(data: bytes, previous: bytes | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A history row's sections after and before its report."""
    after = zlib.decompress(data)
    before: dict[str, Any] = {}
    if previous is not None:
        unpacker = zlib.decompressobj(zdict=after)
        before = fastjson.loads(unpacker.decompress(previous) + unpacker.flush())
    return fastjson.loads(after), before


# --- writing (ingest) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """The report a history row or receipt is about."""

    host_id: int
    report_id: str
    collected_at: dt.datetime
    received_at: dt.datetime
    source: str


INSERT_RECEIPT = _INSERT_RECEIPT


def receipt(report: Received) -> dict[str, Any]:
    """The receipt row of a report (INSERT_RECEIPT)."""
    return {"host_id": report.host_id, "report_id": report.report_id,
            "received_at": report.received_at, "collected_at": report.collected_at,
            "source": source_code(report.source)}  # fmt: skip


# Where the writes go: conn.execute, or collector.ingest.Writes.add (several reports' rows
# in one statement).
Add = Callable[[sa.Executable, list[dict[str, Any]]], Any]


def write_change(
    add: Add,
    report: Received,
    *,
    changed: Sequence[str],
    after: Mapping[str, bytes | str],
    before: Mapping[str, str],
    changes: Sequence[Change],
) -> None:
    """One history row and the report's readable changes. ``changed``: the sections whose
    stable content the report changed; ``after``: those sections after it, or every section
    (a snapshot); ``before``: the changed sections as they were (none for a first report)."""
    names = [s for s in SECTIONS if s in after]
    data, previous = pack(sections_text({s: after[s] for s in names}),
                          sections_text(before) if before else None)  # fmt: skip
    about = {"host_id": report.host_id, "report_id": report.report_id,
             "collected_at": report.collected_at, "received_at": report.received_at}  # fmt: skip
    add(
        _INSERT_HISTORY,
        [{**about, "source": report.source, "snapshot": len(names) == len(SECTIONS),
          "sections": ",".join(s for s in SECTIONS if s in changed), "data": data,
          "previous": previous}],
    )  # fmt: skip
    if changes:
        add(_INSERT_CHANGES, [{**about, **c.row()} for c in changes])


# --- reading (API) --------------------------------------------------------------------------


@dataclass
class HistoryRow:
    id: int
    report_id: str
    collected_at: dt.datetime
    received_at: dt.datetime
    source: str
    snapshot: bool
    sections: list[str]  # whose stable content changed

    def holds(self, section: str) -> bool:
        return self.snapshot or section in self.sections


@dataclass
class ReceivedReport:
    """A report in a host's list: received within RECEIPT_DAYS (a receipt), or older and
    in the history because it changed something."""

    report_id: str
    collected_at: dt.datetime
    received_at: dt.datetime
    source: str
    changed_sections: list[str]
    snapshot: bool


def history_rows(conn: sa.Connection, host_id: int) -> list[HistoryRow]:
    """A host's history rows (without their data), oldest first."""
    h = _HISTORY.c
    query = (
        sa.select(h.id, h.report_id, h.collected_at, h.received_at, h.source, h.snapshot,
                  h.sections)
        .where(h.host_id == host_id)
        .order_by(h.id)
    )  # fmt: skip
    return [
        HistoryRow(
            r.id, r.report_id, r.collected_at, r.received_at, r.source, r.snapshot,
            r.sections.split(",") if r.sections else [],
        )
        for r in conn.execute(query)
    ]  # fmt: skip


def received_reports(
    conn: sa.Connection, host_id: int, rows: Sequence[HistoryRow] | None = None
) -> list[ReceivedReport]:
    """A host's reports in collection order: every one received within RECEIPT_DAYS, and
    before that those that changed something (the history's)."""
    rows = history_rows(conn, host_id) if rows is None else rows
    out = {
        r.report_id: ReceivedReport(
            r.report_id, r.collected_at, r.received_at, r.source, r.sections, r.snapshot
        )
        for r in rows
    }
    query = sa.select(
        _RECEIPTS.c.report_id, _RECEIPTS.c.collected_at, _RECEIPTS.c.received_at,
        _RECEIPTS.c.source,
    ).where(_RECEIPTS.c.host_id == host_id)  # fmt: skip
    for report_id, collected_at, received_at, source in conn.execute(query):
        if report_id not in out:
            name = SOURCES[source] if 0 <= source < len(SOURCES) else SOURCES[0]
            out[report_id] = ReceivedReport(report_id, collected_at, received_at, name, [], False)
    return sorted(out.values(), key=lambda r: (r.collected_at, r.received_at))


@dataclass
class Rebuilder:
    """Rebuilds a host's state after its reports from the history (see the module's text)."""

    conn: sa.Connection
    host_id: int
    current: Mapping[str, Any]  # the host's sections now (collector.current_state)
    rows: list[HistoryRow] = field(default_factory=list)
    _unpacked: dict[int, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.rows:
            self.rows = history_rows(self.conn, self.host_id)

    def state_after(self, report: ReceivedReport) -> dict[str, Any]:
        """The report data of the host after ``report``: its own fields and each section."""
        position = self._position(report)
        sections: dict[str, Any] = {}
        for name in SECTIONS:
            sections[name] = self._section(name, position)
        return {
            "schema_version": SCHEMA_VERSION,
            "report_id": report.report_id,
            "collected_at": report.collected_at.isoformat().replace("+00:00", "Z"),
            **sections,
        }

    def _position(self, report: ReceivedReport) -> int:
        """How many history rows the state after ``report`` includes: up to its own row, or
        (it changed nothing) those collected up to it."""
        for index, row in enumerate(self.rows):
            if row.report_id == report.report_id:
                return index + 1
        count = 0
        for index, row in enumerate(self.rows):
            if row.collected_at <= report.collected_at:
                count = index + 1
        return count

    def _section(self, name: str, position: int) -> Any:
        for index in range(position - 1, -1, -1):
            row = self.rows[index]
            if row.holds(name):
                return self._unpack(row.id)[0].get(name)
        for row in self.rows[position:]:
            if row.holds(name):
                after, before = self._unpack(row.id)
                # A snapshot's section that did not change is as it was before the row.
                return before[name] if name in before else after.get(name)
        return self.current.get(name)

    def _unpack(self, row_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        if row_id not in self._unpacked:
            data, previous = self.conn.execute(
                sa.select(_HISTORY.c.data, _HISTORY.c.previous).where(
                    _HISTORY.c.host_id == self.host_id, _HISTORY.c.id == row_id
                )
            ).one()
            self._unpacked[row_id] = unpack(data, previous)
        return self._unpacked[row_id]


# --- the change log as people read it ---------------------------------------------------------

# What a change of a section is called in the log, by action; {field} is filled in.
_KINDS = {
    ("software", "added"): "software.added",
    ("software", "removed"): "software.removed",
    ("software", "changed"): "software.updated",
    ("displays", "added"): "display.attached",
    ("displays", "removed"): "display.removed",
    ("displays", "changed"): "display.changed",
}


def change_kind(change: Change) -> str:
    """The change's kind, e.g. ``software.updated``, ``display.attached``,
    ``patches.installed``, ``security.changed``, ``os.changed``."""
    section, action = change.section, change.action
    if section == "host" and action == "added" and change.field is None:
        return "inventory.first"
    if section == "patches":
        if change.field == "pending":
            return "patches.pending-added" if action == "added" else "patches.pending-removed"
        if change.field == "last_install":
            return "patches.installed"
    return _KINDS.get((section, action), f"{section}.{action}")


def change_summary(change: Change) -> str:
    """One line of English that says the change."""
    kind = change_kind(change)
    section, item, field_name = change.section, change.item, change.field
    old, new = change.old, change.new
    if kind == "inventory.first":
        return "first inventory of the host"
    if kind == "software.updated" and field_name == "version":
        return f"{item} updated from {old} to {new}"
    if kind == "patches.installed":
        return f"updates installed (last installation {new})"
    if kind == "patches.pending-removed":
        return f"update of {item} ({old}) no longer pending"
    if kind == "patches.pending-added":
        return f"update of {item} to {new} pending"
    what = item or field_name or section
    if change.action == "added":
        return f"{section}: {what} added" + (f" ({new})" if new else "")
    if change.action == "removed":
        return f"{section}: {what} removed" + (f" ({old})" if old else "")
    label = ".".join(p for p in (item, field_name) if p) or section
    return f"{section}: {label} changed from {old} to {new}"


def host_changes(
    conn: sa.Connection,
    host_id: int,
    *,
    limit: int,
    offset: int,
    sections: Iterable[str] | None = None,
) -> tuple[int, list[Any]]:
    """A page of the host's changes, newest first, and how many there are."""
    where = [_CHANGES.c.host_id == host_id]
    if sections is not None:
        where.append(_CHANGES.c.section.in_(list(sections)))
    total = conn.execute(sa.select(sa.func.count()).select_from(_CHANGES).where(*where)).scalar()
    rows = conn.execute(
        sa.select(_CHANGES).where(*where).order_by(_CHANGES.c.id.desc()).limit(limit).offset(offset)
    ).all()
    return int(total or 0), list(rows)
