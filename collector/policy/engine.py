"""Evaluation: one report (+ derived facts, + waivers) -> one Result per check.

The activation handed to CEL holds only the report sections that some check of the set
references (PolicySet.report_sections, found from the compiled expressions' variables);
sections no check reads - typically `software` with hundreds of entries - are never
converted. The activation is built once per host as a ``cel.Context`` and shared by all
checks: converting a section costs more than evaluating an expression, so converting it
once per host instead of once per check is the cheap order (see benchmarks/policy_eval.py).

Outcomes: `applies` false -> not-applicable; `condition` true -> pass, false -> fail;
an expression that returns null, or fails because a fact it needs is missing or null
(CEL's "no such key" / "no such overload"), -> unknown, with the check's `unknown_detail`
as the reason where it has one. An evaluation error never becomes
a fail. A failing check covered by an unexpired waiver -> waived.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import cel

from collector.policy.loader import DERIVED, Check, Expression, PolicySet
from collector.policy.model import Result, Status, Waiver


class _Unknown(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def evaluate(
    policies: PolicySet,
    report: Mapping[str, Any],
    derived: Mapping[str, Any],
    waivers: Iterable[Waiver] = (),
    *,
    lang: str = "en",
) -> list[Result]:
    """Evaluate every check of ``policies`` on ``report``.

    ``report`` is the report as JSON data (``Report.model_dump(mode="json")`` or the parsed
    JSON file); ``derived`` comes from :func:`collector.policy.derive.derive`.
    """
    context = activation(policies, report, derived)
    waiver_list = list(waivers)
    host = report.get("host")
    today = _today(derived)
    results: list[Result] = []
    for check in policies.checks:
        status, message = _run(check, context, lang)
        if status == "fail" and waiver_list:
            status, message = _waive(check, host, today, waiver_list, message)
        results.append(Result(check.id, status, check.severity, check.category, message))
    return results


def activation(
    policies: PolicySet, report: Mapping[str, Any], derived: Mapping[str, Any]
) -> cel.Context:
    variables: dict[str, Any] = {name: report.get(name) for name in policies.report_sections}
    variables[DERIVED] = dict(derived)
    return cel.Context(variables=variables)


def _run(check: Check, context: cel.Context, lang: str) -> tuple[Status, str]:
    title = check.title.get(lang) or check.title.get("en") or check.id
    if check.applies is not None:
        try:
            applies = _bool(check.applies, context)
        except _Unknown as exc:
            return "unknown", f"{title}: applicability unknown ({exc.reason})"
        if not applies:
            return "not-applicable", f"{title}: not applicable"
    try:
        ok = _bool(check.condition, context)
    except _Unknown as exc:
        why = _detail(check.unknown_detail, context) or exc.reason
        return "unknown", f"{title}: unknown ({why})"
    if ok:
        return "pass", title
    detail = _detail(check.detail, context)
    return "fail", f"{title}: {detail}" if detail else title


def _bool(expr: Expression, context: cel.Context) -> bool:
    try:
        value = expr.program.execute(context)
    except KeyError as exc:
        raise _Unknown(f"fact {exc} not in report") from None
    except TypeError as exc:
        text = str(exc)
        if "No such overload" in text:
            raise _Unknown("a fact it needs is unknown (null)") from None
        raise _Unknown(f"evaluation error: {text[:200]}") from None
    except RuntimeError as exc:
        # Every variable is in the activation and the loader refuses unknown functions,
        # so "Undefined variable or function: 'size'" means a function met a null.
        if "Undefined variable or function" in str(exc):
            raise _Unknown("a fact it needs is unknown (null)") from None
        raise _Unknown(f"evaluation error: {str(exc)[:200]}") from None
    except Exception as exc:  # IndexError, ValueError, ... from the binding
        raise _Unknown(f"evaluation error: {str(exc)[:200]}") from None
    if value is None:
        raise _Unknown("a fact it needs is unknown (null)")
    if not isinstance(value, bool):
        raise _Unknown(f"expression returned {type(value).__name__}, not a boolean")
    return value


def _detail(expr: Expression | None, context: cel.Context) -> str | None:
    if expr is None:
        return None
    try:
        value = expr.program.execute(context)
    except Exception:
        return None
    return value if isinstance(value, str) and value else None


def _waive(
    check: Check,
    host: Any,
    today: dt.date,
    waivers: list[Waiver],
    message: str,
) -> tuple[Status, str]:
    host_map = host if isinstance(host, dict) else None
    matching = [w for w in waivers if w.matches(check.id, host_map)]
    if not matching:
        return "fail", message
    active = [w for w in matching if today <= w.until]
    if active:
        best = max(active, key=lambda w: w.until)
        return "waived", f"{message} [waived until {best.until.isoformat()}: {best.reason}]"
    last = max(matching, key=lambda w: w.until)
    return "fail", f"{message} [waiver expired {last.until.isoformat()}]"


def _today(derived: Mapping[str, Any]) -> dt.date:
    now = derived.get("now")
    if isinstance(now, dt.datetime):
        return now.date()
    return dt.datetime.now(dt.UTC).date()
