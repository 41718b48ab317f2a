"""Delta reports on the collector's side: check a delta against the host's current state
(collector.current_state), or ask for a full report.

A delta report (``delta`` present, see agent.schema.Delta and agent.delta) carries only the
sections that changed; an absent section means "unchanged". Merged into the current state it
is a full report: the host view after a delta equals the view after the equivalent full
report. The agent sends its hashes of every section of the state it now has; if the current
state with the carried sections does not hash to them (the collector lacks the base: restored
from a backup, a report lost, a different base), the answer is 409 with ``need_full: true``
and the agent sends a full inventory next. The unchanged sections are never read for the
check: their hashes are stored with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.delta import section_hashes
from agent.schema import SECTIONS
from collector.report_decoding import BadReport, DecodedReport


class NeedFull(BadReport):
    """409: the collector cannot apply this delta; the agent must send a full report."""

    def __init__(self, message: str):
        super().__init__(409, message)

    def body(self) -> dict[str, Any]:
        return {"detail": self.message, "need_full": True}


def check_base(
    decoded: DecodedReport, stored: Mapping[str, str], ours: str | None
) -> dict[str, str]:
    """The agent hashes of the delta's carried sections, once the state they give (carried
    sections over the ``stored`` agent hashes) is the agent's; :class:`NeedFull` otherwise."""
    carried = decoded.agent_hashes
    wrong = [s for s in SECTIONS if decoded.delta_hashes.get(s) != carried.get(s, stored.get(s))]
    if wrong:
        theirs = decoded.delta_base or "none"
        raise NeedFull(
            f"the collector's base (report {ours or 'none'}) differs from the agent's (report "
            f"{theirs}) in {', '.join(wrong)}; send a full report"
        )
    return carried


# --- pure, on report data (tests, tools) ----------------------------------------------------


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
