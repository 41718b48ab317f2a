"""Many hosts evaluated in worker processes give exactly the results of evaluating them one
by one in this process; a worker that finds other packs than the caller's is not trusted."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from benchmarks.policy_eval import NOW, synthetic_report
from collector.policy import PolicySet, Waiver
from collector.policy.batch import MIN_PARALLEL, EvaluationPool, HostItem, evaluate_one
from tests.policy.helpers import POLICIES_DIR


@pytest.fixture(scope="module")
def items() -> list[HostItem]:
    rng = random.Random(7)
    out = []
    for i in range(MIN_PARALLEL + 100):
        report = synthetic_report(rng, 5)
        machine = report["host"]["machine_id"]
        waiver = Waiver("sec.firewall", "Testnetz", NOW.date(), host=machine)
        out.append(HostItem(report, {}, (waiver,) if i % 3 == 0 else ()))
    return out


def test_worker_processes_give_the_same_results(items: list[HostItem]) -> None:
    policies = PolicySet.load(POLICIES_DIR)
    here = [evaluate_one(policies, item, NOW) for item in items]
    pool = EvaluationPool(2)
    try:
        there = pool.evaluate(policies, items, NOW)
    finally:
        pool.close()
    assert there == here
    assert any(r.status == "waived" for results in there for r in results)


def test_a_worker_with_other_packs_is_not_trusted(items: list[HostItem], tmp_path: Path) -> None:
    """The caller loaded the packs, then someone edited them: the workers load the edited
    ones, whose digest differs, and the caller evaluates with the packs it holds."""
    directory = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, directory)
    policies = PolicySet.load(directory)
    pack = directory / "security.yaml"
    pack.write_text(pack.read_text().replace("severity: high", "severity: low"))
    pool = EvaluationPool(2)
    try:
        there = pool.evaluate(policies, items, NOW)
    finally:
        pool.close()
    assert there == [evaluate_one(policies, item, NOW) for item in items]
    assert any(r.severity == "high" for results in there for r in results)
