"""Evaluating many hosts on all cores: derive + evaluate in worker processes.

Converting a host's facts to CEL values costs about a microsecond per object and runs in
Python's one interpreter lock, so one process evaluates some 5,000 hosts a second at most
(benchmarks/policy_eval.py). Re-evaluating a whole state after a pack change spreads the hosts
over worker processes (``concurrent.futures`` with the ``spawn`` start method: the collector
runs threads, which a forked child must not inherit). Each worker loads the packs itself,
once per digest, from the same directory: compiled CEL programs cannot be sent between
processes. A worker that finds other packs there than the caller's (edited meanwhile) says
so, and the caller evaluates that part itself: never with packs it did not ask for.

Only the sections the checks and the derived facts read are sent (no software list).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

from collector.policy.derive import derive
from collector.policy.engine import evaluate
from collector.policy.loader import DERIVED, PolicySet
from collector.policy.model import Result, Status, Waiver

# What derive() reads besides the sections the checks read.
DERIVE_SECTIONS = frozenset({"host", "os", "hardware", "patches", "security", "displays"})
# Fewer hosts than this are evaluated in the calling process: sending them costs more.
MIN_PARALLEL = 400


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


def sections_needed(policies: PolicySet) -> frozenset[str]:
    return policies.report_sections | DERIVE_SECTIONS


class EvaluationPool:
    """Worker processes that evaluate hosts; :meth:`evaluate` falls back to the calling
    process for small batches or when no worker can help."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else max(1, (os.cpu_count() or 1))
        self._executor: Executor | None = None

    def _pool(self) -> Executor | None:
        if self.workers < 2:
            return None
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        return self._executor

    def warm_up(self, policies: PolicySet) -> None:
        """Start the workers and load the packs in each (a running collector does this once;
        the first re-evaluation then pays no start-up)."""
        pool = self._pool()
        if pool is not None:
            where = (str(policies.directory), policies.digest)
            list(pool.map(_loads, [where] * self.workers))

    def evaluate(
        self, policies: PolicySet, items: Sequence[HostItem], now: dt.datetime
    ) -> list[list[Result]]:
        pool = self._pool() if len(items) >= MIN_PARALLEL else None
        if pool is None:
            return [evaluate_one(policies, item, now) for item in items]
        keep = sections_needed(policies)
        slim = [
            HostItem({k: v for k, v in item.report.items() if k in keep}, item.derive_args,
                     item.waivers)
            for item in items
        ]  # fmt: skip
        parts = self.workers * 4
        size = -(-len(slim) // parts)
        chunks = [slim[i : i + size] for i in range(0, len(slim), size)]
        where = (str(policies.directory), policies.digest)
        ids = tuple(c.id for c in policies.checks)  # a subset after a pack change
        futures = [pool.submit(_evaluate_chunk, where, ids, chunk, now) for chunk in chunks]
        out: list[list[Result]] = []
        for chunk, future in zip(chunks, futures, strict=True):
            packed = future.result()
            if packed is None:  # the worker found other packs: evaluate here
                out.extend(evaluate_one(policies, item, now) for item in chunk)
            else:
                out.extend(unpack(policies, results) for results in packed)
        return out

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None


# --- in the worker processes --------------------------------------------------------------

_loaded: dict[tuple[str, str], PolicySet | None] = {}


def _load(where: tuple[str, str]) -> PolicySet | None:
    directory, digest = where
    if where not in _loaded:
        _loaded.clear()
        try:
            policies: PolicySet | None = PolicySet.load(Path(directory))
        except Exception:  # a pack that no longer loads: the caller evaluates itself
            policies = None
        _loaded[where] = policies if policies is not None and policies.digest == digest else None
    return _loaded[where]


def _loads(where: tuple[str, str]) -> bool:
    return _load(where) is not None


# Results travel back compact: per check its status and, where the message is not one the
# caller's check has already (its title on a pass, its not-applicable text), the messages.
# Pickling 500,000 result objects cost more than evaluating them.
Packed = list[tuple[str, Mapping[str, str] | None]]


def pack(policies: PolicySet, results: list[Result]) -> Packed:
    out: Packed = []
    for check, result in zip(policies.checks, results, strict=True):
        shared = result.messages is check.titles or result.messages is check.not_applicable
        out.append((result.status, None if shared else dict(result.messages)))
    return out


def unpack(policies: PolicySet, packed: Packed) -> list[Result]:
    out = []
    for check, (status, sent) in zip(policies.checks, packed, strict=True):
        if sent is not None:
            messages = sent
        elif status == "not-applicable":
            messages = check.not_applicable
        else:
            messages = check.titles
        message = messages.get("en") or next(iter(messages.values()), "")
        out.append(Result(check.id, cast("Status", status), check.severity, check.category,
                          message, messages))  # fmt: skip
    return out


_subsets: dict[tuple[tuple[str, str], tuple[str, ...]], PolicySet] = {}


def _evaluate_chunk(
    where: tuple[str, str], ids: tuple[str, ...], items: list[HostItem], now: dt.datetime
) -> list[Packed] | None:
    policies = _load(where)
    if policies is None:
        return None
    if ids != tuple(c.id for c in policies.checks):
        key = (where, ids)
        if key not in _subsets:
            _subsets.clear()
            _subsets[key] = policies.subset(set(ids))
        policies = _subsets[key]
    return [pack(policies, evaluate_one(policies, item, now)) for item in items]
