"""Findings: policy results stored per host and check, with their life and waivers.

* :mod:`collector.findings.store` - evaluate hosts' latest reports and upsert findings
  (synchronous; the life of a finding is described there);
* :mod:`collector.findings.evaluator` - the background thread that ingest feeds through
  :func:`notify`, and the periodic pack reload / waiver expiry;
* :mod:`collector.findings.waivers` - waivers in the database; :mod:`.cli` their commands.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from collector.db import Database
from collector.findings.evaluator import (
    Evaluator,
    evaluator_for,
    notify,
    notify_devices,
    start_evaluator,
)
from collector.findings.store import evaluate_hosts, reevaluate_if_changed
from collector.policy import PolicyLoadError, PolicySet
from collector.policy.cli import default_policies_dir

log = logging.getLogger(__name__)

__all__ = [
    "Evaluator",
    "evaluate_hosts",
    "evaluate_imported",
    "evaluator_for",
    "notify",
    "notify_devices",
    "reevaluate_if_changed",
    "start_evaluator",
]


def evaluate_imported(db: Database, host_ids: Iterable[int]) -> None:
    """Evaluate hosts whose reports came in by `inventar-collector import` (synchronously,
    in the importing process). A pack that does not load is a warning: the reports stay."""
    ids = list(host_ids)
    if not ids:
        return
    directory = default_policies_dir()
    try:
        policies = PolicySet.load(directory)
    except PolicyLoadError as exc:
        print(f"inventar-collector: warning: policy packs in {directory} do not load; "
              f"findings not evaluated: {exc}", file=sys.stderr)  # fmt: skip
        return
    evaluate_hosts(db, ids, policies)
