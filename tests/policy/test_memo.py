"""The engine runs each check once per distinct input (collector.policy.engine.Plan): its
results must be exactly those of running every check on the whole, uncut report.

The oracle here hands CEL every section of the report and every derived fact, as they
are: no projection to the fields a check reads, nothing remembered. Hosts are the
benchmark's varied synthetic fleet, with fields then deleted, nulled or given another type
at random, so that the remembered outcomes meet inputs that differ only in such details.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from collections.abc import Mapping
from typing import Any

import cel
import pytest

from agent.schema import Report, SchemaError, convert
from benchmarks.policy_eval import NOW, synthetic_report
from collector.policy import PolicySet, derive, evaluate
from collector.policy.engine import Plan, _run
from tests.policy.helpers import DELETE, POLICIES_DIR, base_report, make, windows10_laptop

# Values a mutated field takes: each differs from the others for CEL (1 is not true, 1.0
# is not 1, "" is not null, a list is not a map).
ODD: list[Any] = [None, True, False, 0, 1, 1.0, "", "yes", [], {}, [None], [{}]]


def _mutate(report: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(report)
    for _ in range(rng.randint(1, 4)):
        section = rng.choice(["host", "os", "hardware", "security", "patches", "wlan",
                              "inputs", "network", "displays"])  # fmt: skip
        value = out.get(section)
        if isinstance(value, dict) and value:
            key = rng.choice(sorted(value))
            if rng.random() < 0.3:
                del value[key]
            else:
                value[key] = rng.choice(ODD)
        elif isinstance(value, list) and value and isinstance(value[0], dict) and value[0]:
            key = rng.choice(sorted(value[0]))
            value[0][key] = rng.choice(ODD)
        else:
            out[section] = rng.choice(ODD)
    return out


def _valid(report: dict[str, Any]) -> bool:
    """What the collector would accept (a report it refuses is never evaluated)."""
    try:
        convert(report, Report)
    except SchemaError:
        return False
    return True


def _fleet() -> list[dict[str, Any]]:
    rng = random.Random(21)
    hosts = [synthetic_report(rng, 3) for _ in range(400)]
    mutated = [_mutate(rng.choice(hosts), rng) for _ in range(1500)]
    hosts += [m for m in mutated if _valid(m)]
    # enough of the mutations are reports the collector accepts (764 of 1,900 with msgspec;
    # pydantic also took e.g. true for an integer and "yes" for a boolean)
    assert len(hosts) > 700
    hosts += [base_report(), windows10_laptop(), make({"security": {"firewall": 1}})]
    return hosts


def _oracle(
    policies: PolicySet, report: Mapping[str, Any], derived: Mapping[str, Any]
) -> list[tuple[str, str, dict[str, str]]]:
    context = cel.Context(variables={**report, "derived": dict(derived)})
    out: list[tuple[str, str, dict[str, str]]] = []
    for check in policies.checks:
        status, messages = _run(check, context)
        out.append((check.id, status, dict(messages)))
    return out


@pytest.fixture(scope="module")
def fleet() -> list[dict[str, Any]]:
    return _fleet()


def test_remembered_outcomes_equal_running_every_check_on_the_whole_report(
    fleet: list[dict[str, Any]],
) -> None:
    policies = PolicySet.load(POLICIES_DIR)
    seen: set[tuple[str, str]] = set()
    for report in fleet:
        derived = derive(report, policies.reference, NOW)
        got = [(r.check, r.status, dict(r.messages)) for r in evaluate(policies, report, derived)]
        assert got == _oracle(policies, report, derived), report.get("host")
        seen.update((r[0], r[1]) for r in got)
    # The fleet reaches every outcome the comparison is about, not just passes.
    statuses = {status for _, status in seen}
    assert statuses >= {"pass", "fail", "unknown", "not-applicable"}
    # ... and most hosts were answered from memory (else this tests nothing of the memo).
    memo = policies.cache["plan"]
    assert sum(memo.hits) > len(fleet) * len(policies.checks) / 2


def test_inputs_equal_in_python_but_not_in_cel_are_told_apart() -> None:
    """True == 1 == 1.0 in Python, and a missing field and a null one look alike to .get():
    the memo must not hand one's outcome to the other."""
    policies = PolicySet.load(POLICIES_DIR)

    def firewall(report: dict[str, Any]) -> tuple[str, str]:
        derived = derive(report, policies.reference, NOW)
        result = next(r for r in evaluate(policies, report, derived) if r.check == "sec.firewall")
        return result.status, result.message

    def with_firewall(value: Any) -> dict[str, Any]:
        report = make({})  # validated; the odd value goes in after, as `policy eval` may get it
        report["security"]["firewall"] = value
        if value is DELETE:
            del report["security"]["firewall"]
        return report

    on = firewall(with_firewall(True))
    one = firewall(with_firewall(1))
    null = firewall(with_firewall(None))
    missing = firewall(with_firewall(DELETE))
    assert on[0] == "pass"
    assert one[0] == "unknown" and "not a boolean" in one[1]
    assert null[0] == "unknown" and "null" in null[1]
    assert missing[0] == "unknown" and "not in report" in missing[1]
    assert firewall(with_firewall(1)) == one  # now from memory
    assert firewall(with_firewall(True)) == on


def test_a_check_with_nearly_unique_inputs_stops_being_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A device's age differs on every host: its memo would only grow, so the plan stops
    keeping it once it fills with more misses than hits, and results stay right."""
    policies = PolicySet.load(POLICIES_DIR)
    monkeypatch.setattr(Plan, "LIMIT", 200)
    plan = None
    for i in range(1000):
        # Four days apart: every host's age (in years, two decimals) differs.
        bios = (dt.date(2014, 1, 1) + dt.timedelta(days=4 * i)).isoformat()
        report = make({"host": {"bios_date": bios}})
        derived = derive(report, policies.reference, NOW)
        results = {r.check: r for r in evaluate(policies, report, derived)}
        assert (
            results["life.device.age"].status
            == _by_id(_oracle(policies, report, derived))["life.device.age"]
        )
        plan = policies.cache["plan"]
    assert plan is not None
    index = [c.id for c, *_ in plan.checks].index("life.device.age")
    assert plan.memos[index] is None
    firewall = [c.id for c, *_ in plan.checks].index("sec.firewall")
    assert plan.memos[firewall] is not None and len(plan.memos[firewall]) == 1


def _by_id(results: list[tuple[str, str, dict[str, str]]]) -> dict[str, str]:
    return {check: status for check, status, _ in results}
