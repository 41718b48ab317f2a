"""The findings store reads only the sections evaluation reads (not the software list):
hosts evaluated with every other section blanked get exactly the same results."""

from __future__ import annotations

import random

from agent.schema import SECTIONS
from benchmarks.policy_eval import NOW, synthetic_report
from collector.policy import PolicySet
from collector.policy.batch import HostItem, evaluate_one, sections_read
from tests.policy.helpers import POLICIES_DIR, base_report, windows10_laptop


def test_sections_not_read_do_not_change_any_result() -> None:
    policies = PolicySet.load(POLICIES_DIR)
    read = sections_read(policies)
    assert "software" not in read  # the point: the largest section is never loaded
    rng = random.Random(5)
    reports = [synthetic_report(rng, 20) for _ in range(200)] + [base_report(),
                                                                  windows10_laptop()]  # fmt: skip
    first_seen = {"openssl": NOW}
    for report in reports:
        blank = {k: (v if k in read or k not in SECTIONS else None) for k, v in report.items()}
        whole = evaluate_one(policies, HostItem(report, {"first_seen_pending": first_seen}), NOW)
        cut = evaluate_one(policies, HostItem(blank, {"first_seen_pending": first_seen}), NOW)
        assert cut == whole
