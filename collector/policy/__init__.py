"""Policy engine: YAML packs with CEL checks -> results per host.

No database, web or ORM imports here: the collector's ingest and the CLI call in with plain
data (a report as JSON data, derived facts, waivers) and get plain results back.

    from collector.policy import PolicySet, derive, evaluate
    policies = PolicySet.load("policies")
    facts = derive(report, policies.reference, now)
    results = evaluate(policies, report, facts, waivers)
"""

from collector.policy.derive import derive
from collector.policy.engine import evaluate
from collector.policy.loader import (
    Check,
    Policies,
    PolicyLoadError,
    PolicySet,
    Problem,
    lint,
)
from collector.policy.model import Result, Status, Waiver
from collector.policy.reference import ReferenceData

__all__ = [
    "Check",
    "Policies",
    "PolicyLoadError",
    "PolicySet",
    "Problem",
    "ReferenceData",
    "Result",
    "Status",
    "Waiver",
    "derive",
    "evaluate",
    "lint",
]
