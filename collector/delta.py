"""Delta reports on the collector's side: merge a delta into the host's latest (merged)
report, verify the result against the agent's section hashes, or ask for a full report.

A delta report (``delta`` present, see agent.schema.Delta and agent.delta) carries only the
sections that changed; an absent section means "unchanged". The merged result is a full
report: it is what gets stored (``reports.raw``) and what the host view shows, so the view
after a delta equals the view after the equivalent full report. If the merged sections do
not hash to what the agent says it holds (the collector lacks the base: restored from a
backup, a report lost, a different base), the answer is 409 with ``need_full: true`` and
the agent sends a full inventory next.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from agent.delta import section_hashes
from agent.schema import SECTIONS, Report
from collector.models import Host, ReportRecord, table_of
from collector.report_decoding import BadReport


class NeedFull(BadReport):
    """409: the collector cannot apply this delta; the agent must send a full report."""

    def __init__(self, message: str):
        super().__init__(409, message)

    def body(self) -> dict[str, Any]:
        return {"detail": self.message, "need_full": True}


def merge(base_report: Mapping[str, Any], delta_report: Mapping[str, Any]) -> dict[str, Any]:
    """The full report that ``delta_report`` describes on top of ``base_report``.

    Pure: both are report JSON data. The delta's own fields (report_id, collected_at, agent,
    collection, ...) win; a section absent from the delta is taken from the base; the
    result is a full report (``delta: None``).
    """
    out: dict[str, Any] = {k: v for k, v in base_report.items() if k not in SECTIONS}
    out.update({k: v for k, v in delta_report.items() if k not in SECTIONS})
    for section in SECTIONS:
        source = delta_report if section in delta_report else base_report
        out[section] = source.get(section)
    out["delta"] = None
    return out


def mismatched_sections(merged: Mapping[str, Any], expected: Mapping[str, str]) -> list[str]:
    """Sections whose hash in ``merged`` differs from the agent's (a missing hash differs)."""
    actual = section_hashes(merged)
    return [s for s in SECTIONS if expected.get(s) != actual[s]]


def delta_data(report: Report) -> dict[str, Any]:
    """The delta report as JSON data with only the sections it really carries."""
    dump = report.model_dump(mode="json")
    sent = report.model_fields_set
    return {k: v for k, v in dump.items() if k not in SECTIONS or k in sent}


def base_of(conn: sa.Connection, host_id: int | None) -> tuple[str, dict[str, Any]] | None:
    """The host's latest report (full or merged): its id and normalized JSON data."""
    if host_id is None:
        return None
    hosts, reports = table_of(Host), table_of(ReportRecord)
    last = conn.execute(sa.select(hosts.c.last_report_id).where(hosts.c.id == host_id)).scalar()
    if not last:
        return None
    raw = conn.execute(sa.select(reports.c.raw).where(reports.c.report_id == last)).scalar()
    if not raw:
        return None
    try:
        return last, Report.model_validate_json(raw).model_dump(mode="json")
    except ValidationError:
        return None


def resolve(conn: sa.Connection, host_id: int | None, report: Report) -> tuple[Report, str]:
    """For a delta report: the merged full report and its JSON text to store; raises
    :class:`NeedFull` if the collector lacks the base. A full report is returned as is."""
    assert report.delta is not None
    found = base_of(conn, host_id)
    theirs = str(report.delta.base_report_id) if report.delta.base_report_id else "none"
    if found is None:
        raise NeedFull(
            f"no base report for this host (the agent's base is {theirs}); send a full report"
        )
    ours, base = found
    merged = merge(base, delta_data(report))
    wrong = mismatched_sections(merged, report.delta.section_hashes)
    if wrong:
        raise NeedFull(
            f"the collector's base (report {ours}) differs from the agent's (report {theirs}) "
            f"in {', '.join(wrong)}; send a full report"
        )
    try:
        full = Report.model_validate(merged)
    except ValidationError as exc:
        raise NeedFull(f"merged report is invalid ({exc.error_count()} error(s))") from None
    return full, json.dumps(merged, separators=(",", ":"), ensure_ascii=False)
