"""Delta reports: after the collector acknowledged a full inventory, the agent sends only the
sections whose content changed, plus a small hash of EVERY section of its current state.

The wire form is an additive extension of schema version 1: a delta report is a normal
report with a top-level ``delta: {base_report_id, section_hashes}``; a section that is
absent from it means "unchanged". ``host`` is always sent (the collector needs
``host.machine_id``). The collector merges the delta into its latest report of the host and
checks the merged result against ``section_hashes``; if they differ (it lacks the base, e.g.
restored from a backup) it answers 409 with ``need_full: true`` and the agent sends a full
inventory. The collector imports :func:`section_hash` from here, so both sides hash alike.

The agent's *base* (``base.json`` in the state directory) is the full state the collector
is known to hold: the sections of the last acknowledged report, merged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from agent.schema import SECTIONS
from agent.state import atomic_write

log = logging.getLogger(__name__)

BASE_FILE = "base.json"
# 64 bits per section: enough to notice a differing base, small on the wire.
HASH_HEX_DIGITS = 16


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def section_hash(value: Any) -> str:
    """The hash of one section's JSON value (``None`` included), as both sides compute it."""
    return hashlib.sha256(canonical_json(parsed(value))).hexdigest()[:HASH_HEX_DIGITS]


def parsed(value: Any) -> Any:
    """A section's value; one read from the base file is parsed only here, when needed."""
    return msgspec.json.decode(value) if isinstance(value, msgspec.Raw) else value


def section_hashes(sections: Mapping[str, Any]) -> dict[str, str]:
    """Hashes of ALL sections of a (full) report dump or sections mapping."""
    return {s: section_hash(sections.get(s)) for s in SECTIONS}


@dataclass(frozen=True)
class Base:
    """What the collector holds for this host: the merged sections of the acknowledged
    report ``report_id``."""

    report_id: str
    # Read from the file, each section is its JSON text (msgspec.Raw), not parsed: a status
    # report carries a few small sections, and parsing the whole base (a full inventory)
    # before each one was a fifth of the service's CPU. It is written back as it was read.
    sections: dict[str, Any]
    # The sections' hashes where known (stored beside them): a light report then hashes only
    # the sections it collected, not every section of the base twice.
    hashes: dict[str, str] = field(default_factory=dict)

    def section_hashes(self) -> dict[str, str]:
        if set(self.hashes) == set(SECTIONS):
            return self.hashes
        return section_hashes(self.sections)


class NoBase(Exception):
    """A partial (light) report cannot be sent before a full inventory was acknowledged."""


def wire_body(
    report: Mapping[str, Any], collected: Iterable[str], base: Base | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body to send for a report dump whose ``collected`` sections are fresh, and the
    full state (all sections) the collector holds once it acknowledged that body.

    Without a base the report must be complete and is sent as a full report.
    """
    fresh = set(collected)
    if base is None:
        missing = [s for s in SECTIONS if s not in fresh]
        if missing:
            raise NoBase(f"no acknowledged full inventory to apply {', '.join(SECTIONS)} to")
        current = {s: report.get(s) for s in SECTIONS}
        body = {k: v for k, v in report.items() if k != "delta"}
        body["delta"] = None
        return body, current
    current = {s: (report.get(s) if s in fresh else base.sections.get(s)) for s in SECTIONS}
    old = base.section_hashes()
    hashes = {s: (section_hash(current[s]) if s in fresh else old[s]) for s in SECTIONS}
    body = {k: v for k, v in report.items() if k not in SECTIONS and k != "delta"}
    body["host"] = parsed(current["host"])
    for section in SECTIONS:
        if hashes[section] != old[section]:
            body[section] = current[section]
    body["delta"] = {"base_report_id": base.report_id, "section_hashes": hashes}
    return body, current


def encode(body: Mapping[str, Any]) -> bytes:
    # msgspec: several times quicker than json.dumps on a full report (the hash keeps
    # canonical_json, whose exact bytes both sides must agree on)
    return msgspec.json.encode(body)


# The base as last read: the service reads it several times per report; unchanged on disk
# (same size, time and inode) it is not parsed again. Forgotten after each job.
_loaded: tuple[Path, tuple[int, int, int], Base] | None = None


def load_base(state_dir: Path) -> Base | None:
    global _loaded  # noqa: PLW0603  (a one-entry memo)
    path = state_dir / BASE_FILE
    try:
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        if _loaded is not None and _loaded[0] == path and _loaded[1] == stamp:
            return _loaded[2]
        raw = _BASE_FILE.decode(path.read_bytes())
        base = Base(raw.report_id, raw.sections, raw.hashes)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s unreadable (%s): the next report is sent in full", path, exc)
        return None
    if set(base.sections) != set(SECTIONS):
        return None
    _loaded = (path, stamp, base)
    return base


class _BaseFile(msgspec.Struct):
    report_id: str
    sections: dict[str, msgspec.Raw]
    hashes: dict[str, str] = {}


_BASE_FILE = msgspec.json.Decoder(_BaseFile)


def forget_base() -> None:
    """Drops the remembered base: between jobs the service keeps no report in memory."""
    global _loaded  # noqa: PLW0603
    _loaded = None


def save_base(state_dir: Path, base: Base) -> None:
    data = msgspec.json.encode(
        {"report_id": base.report_id, "sections": base.sections, "hashes": base.section_hashes()}
    )
    atomic_write(state_dir / BASE_FILE, data)


def clear_base(state_dir: Path) -> None:
    (state_dir / BASE_FILE).unlink(missing_ok=True)
