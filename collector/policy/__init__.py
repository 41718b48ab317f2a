"""Policy engine: YAML packs with CEL checks -> results per host.

No database, web or ORM imports here: the collector's ingest and the CLI call in with plain
data (a report as JSON data, derived facts, waivers) and get plain results back.

    from collector.policy import PolicySet, derive, evaluate
    policies = PolicySet.load("policies")
    facts = derive(report, policies.reference, now)
    results = evaluate(policies, report, facts, waivers)

The names below are loaded on first use (PEP 562): the decode worker processes import
``collector.policy.facts`` and ``reference`` only, and must not pay for the CEL engine
(about 18 MB and 0.1 s per worker).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# `derive` is also the name of its module: once anything imports collector.policy.derive, the
# import system sets the package's attribute `derive` to that module, past __getattr__. So
# the function is bound here (its module needs no CEL).
from collector.policy.derive import derive

if TYPE_CHECKING:
    from collector.policy.engine import evaluate, evaluate_device
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

_WHERE = {
    "evaluate": "engine",
    "evaluate_device": "engine",
    "Check": "loader",
    "Policies": "loader",
    "PolicyLoadError": "loader",
    "PolicySet": "loader",
    "Problem": "loader",
    "lint": "loader",
    "Result": "model",
    "Status": "model",
    "Waiver": "model",
    "ReferenceData": "reference",
}

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
    "evaluate_device",
    "lint",
]
assert sorted(__all__) == sorted([*_WHERE, "derive"])


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
