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

from collector.policy import failure
from collector.policy.loader import DERIVED, DEVICE, Check, Expression, PolicySet
from collector.policy.model import Result, Status, Waiver

LANGS = failure.LANGS


class _Unknown(Exception):
    """Why a result is unknown, in every language (``reasons``; ``reason`` in English)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        self.reasons = {lang: form.format(detail) for lang, form in _REASONS[kind].items()}
        self.reason = self.reasons["en"]
        super().__init__(self.reason)


_REASONS = {
    "missing": {"de": "Wert {} fehlt im Bericht", "en": "fact {} not in report"},
    "null": {"de": "ein benötigter Wert ist unbekannt", "en": "a fact it needs is unknown (null)"},
    "error": {"de": "Auswertungsfehler: {}", "en": "evaluation error: {}"},
    "type": {"de": "der Ausdruck ergibt {}, keinen Wahrheitswert",
             "en": "expression returned {}, not a boolean"},
}  # fmt: skip


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
    host = report.get("host")
    return _results(policies.checks, context, host if isinstance(host, dict) else None,
                    list(waivers), _today(derived), lang)  # fmt: skip


def evaluate_device(
    policies: PolicySet,
    device: Mapping[str, Any],
    waivers: Iterable[Waiver] = (),
    *,
    now: dt.datetime | None = None,
    lang: str = "en",
) -> list[Result]:
    """Evaluate the device checks (packs with ``subject: device``) on one discovered device
    (``device``: mac, ip, vendor, open_ports, managed, site, site_kind). A waiver's ``host``
    names the device's MAC address."""
    context = cel.Context(variables={DEVICE: dict(device)})
    today = (now or dt.datetime.now(dt.UTC)).date()
    subject = {"machine_id": device.get("mac"), "hostname": device.get("ip")}
    return _results(policies.device_checks, context, subject, list(waivers), today, lang)


def _results(  # noqa: PLR0917  (the one loop both subjects share)
    checks: Iterable[Check],
    context: cel.Context,
    subject: dict[str, Any] | None,
    waivers: list[Waiver],
    today: dt.date,
    lang: str,
) -> list[Result]:
    results: list[Result] = []
    for check in checks:
        status, messages = _run(check, context)
        if status == "fail" and waivers:
            status, messages = _waive(check, subject, today, waivers, messages)
        message = messages.get(lang) or messages["en"]
        results.append(Result(check.id, status, check.severity, check.category, message, messages))
    return results


def activation(
    policies: PolicySet, report: Mapping[str, Any], derived: Mapping[str, Any]
) -> cel.Context:
    """The host's CEL variables: the sections the checks read, each cut to the fields they
    read (PolicySet.fields), and the derived facts likewise."""
    variables: dict[str, Any] = {
        name: _project(policies, name, report.get(name)) for name in policies.report_sections
    }
    variables[DERIVED] = _project(policies, DERIVED, dict(derived))
    return cel.Context(variables=variables)


def _project(policies: PolicySet, name: str, value: Any) -> Any:
    """The variable ``name`` cut to what the checks read: a mapping to its fields
    (PolicySet.fields; a missing field stays missing), the mappings in its lists to the
    fields read of elements (PolicySet.element_fields) but for the lists used whole."""
    elements, whole = policies.element_fields, policies.whole_lists
    if isinstance(value, list):
        return value if name in whole else _elements(value, elements)
    keep = policies.fields.get(name)
    if keep is None or not isinstance(value, dict):
        return value
    return {k: _elements(v, elements) if isinstance(v, list) and f"{name}.{k}" not in whole
            else v for k, v in value.items() if k in keep}  # fmt: skip


def _elements(items: list[Any], keep: frozenset[str] | None) -> list[Any]:
    if keep is None:
        return items
    return [{k: v for k, v in item.items() if k in keep} if isinstance(item, dict) else item
            for item in items]  # fmt: skip


def _run(check: Check, context: cel.Context) -> tuple[Status, Mapping[str, str]]:
    """The check's status and its message in every language."""
    titles = check.titles

    def each(suffix: dict[str, str]) -> dict[str, str]:
        return {lang: f"{titles[lang]}{suffix[lang]}" for lang in LANGS}

    if check.applies is not None:
        try:
            applies = _bool(check.applies, context)
        except _Unknown as exc:
            return "unknown", each(_said(_APPLIES_UNKNOWN, exc.reasons))
        if not applies:
            return "not-applicable", check.not_applicable
    try:
        ok = _bool(check.condition, context)
    except _Unknown as exc:
        why = failure.render(check.unknown, context) if check.unknown else None
        if why is not None:  # the check says more than the generic reason
            return "unknown", {lang: f"{titles[lang]}{_UNKNOWN[lang].format(why[lang])}"
                               for lang in LANGS}  # fmt: skip
        return "unknown", each(_said(_UNKNOWN, exc.reasons))
    if ok:
        return "pass", titles  # shared by every result of the check: never changed
    said = failure.render(check.failure, context) if check.failure else None
    if said is not None:
        return "fail", said
    detail = _detail(check.detail, context)  # a pack without failure texts
    return "fail", each(dict.fromkeys(LANGS, f": {detail}" if detail else ""))


_UNKNOWN = {"de": ": unbekannt ({})", "en": ": unknown ({})"}
_APPLIES_UNKNOWN = {"de": ": Anwendbarkeit unbekannt ({})", "en": ": applicability unknown ({})"}


def _said(forms: dict[str, str], reasons: Mapping[str, str]) -> dict[str, str]:
    return {lang: form.format(reasons[lang]) for lang, form in forms.items()}


def _bool(expr: Expression, context: cel.Context) -> bool:
    try:
        value = expr.program.execute(context)
    except KeyError as exc:
        raise _Unknown("missing", str(exc)) from None
    except TypeError as exc:
        text = str(exc)
        if "No such overload" in text:
            raise _Unknown("null") from None
        raise _Unknown("error", text[:200]) from None
    except RuntimeError as exc:
        # Every variable is in the activation and the loader refuses unknown functions,
        # so "Undefined variable or function: 'size'" means a function met a null.
        if "Undefined variable or function" in str(exc):
            raise _Unknown("null") from None
        raise _Unknown("error", str(exc)[:200]) from None
    except Exception as exc:  # IndexError, ValueError, ... from the binding
        raise _Unknown("error", str(exc)[:200]) from None
    if value is None:
        raise _Unknown("null")
    if not isinstance(value, bool):
        raise _Unknown("type", type(value).__name__)
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
    messages: Mapping[str, str],
) -> tuple[Status, Mapping[str, str]]:
    host_map = host if isinstance(host, dict) else None
    matching = [w for w in waivers if w.matches(check.id, host_map)]
    if not matching:
        return "fail", messages
    active = [w for w in matching if today <= w.until]
    if active:
        best = max(active, key=lambda w: w.until)
        forms = {"de": " [Ausnahme bis {}: {}]", "en": " [waived until {}: {}]"}
        return "waived", {
            lang: text + forms[lang].format(best.until.isoformat(), best.reason)
            for lang, text in messages.items()
        }
    last = max(matching, key=lambda w: w.until)
    forms = {"de": " [Ausnahme abgelaufen am {}]", "en": " [waiver expired {}]"}
    return "fail", {
        lang: text + forms[lang].format(last.until.isoformat()) for lang, text in messages.items()
    }


def _today(derived: Mapping[str, Any]) -> dt.date:
    now = derived.get("now")
    if isinstance(now, dt.datetime):
        return now.date()
    return dt.datetime.now(dt.UTC).date()
