"""Evaluating many hosts: one host's derive + evaluate, as the findings store runs it.

Re-evaluating every host after a pack change runs in the calling process. It once spread
the hosts over worker processes; since the engine runs each check once per distinct input
(collector.policy.engine.Plan), preparing and sending a host to a worker and reading its
results back cost more CPU than evaluating the host (benchmarks/policy_eval.py: about
330 µs of CPU per host with two workers, against about 100 µs in one process).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collector.policy.derive import derive
from collector.policy.engine import evaluate
from collector.policy.loader import DERIVED, PolicySet
from collector.policy.model import Result, Waiver

# What derive() reads besides the sections the checks read (and the findings store: the
# pending security updates of `patches`).
DERIVE_SECTIONS = frozenset({"host", "os", "hardware", "patches", "security", "displays"})


def sections_read(policies: PolicySet) -> frozenset[str]:
    """The report sections evaluating ``policies`` reads."""
    return policies.report_sections | DERIVE_SECTIONS


@dataclass(frozen=True)
class HostItem:
    """One host to evaluate: its report (JSON data), what derive() takes besides, waivers."""

    report: Mapping[str, Any]
    derive_args: Mapping[str, Any] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()


def evaluate_one(policies: PolicySet, item: HostItem, now: dt.datetime) -> list[Result]:
    # Checks that read no derived fact (a subset after a pack change) need none computed.
    if policies.fields.get(DERIVED) == frozenset():
        facts: dict[str, Any] = {"now": now}
    else:
        facts = derive(item.report, policies.reference, now, **item.derive_args)
    return evaluate(policies, item.report, facts, item.waivers)
