"""Evaluation: one report (+ derived facts, + waivers) -> one Result per check.

Each check sees only what it reads: the variables of its expressions, each cut to the
fields it reads (found from the compiled expressions, collector.policy.loader); sections no
check reads - typically `software` with hundreds of entries - are never converted. A check's
outcome is remembered by exactly those values (:class:`Plan`), so that a uniform fleet runs
each check once per distinct input rather than once per host; converting values to CEL
costs more than evaluating an expression (see benchmarks/policy_eval.py).

Outcomes: `applies` false -> not-applicable; `condition` true -> pass, false -> fail;
an expression that returns null, or fails because a fact it needs is missing or null
(CEL's "no such key" / "no such overload"), -> unknown, with the check's `unknown_detail`
as the reason where it has one. An evaluation error never becomes
a fail. A failing check covered by an unexpired waiver -> waived.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

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
    host = report.get("host")
    subject = host if isinstance(host, dict) else None
    waiver_list = list(waivers)
    today = _today(derived)
    results: list[Result] = []
    for check, outcome in zip(policies.checks, plan(policies).outcomes(report, derived),
                              strict=True):  # fmt: skip
        if outcome.status == "fail" and waiver_list:
            status, messages = _waive(check, subject, today, waiver_list, outcome.messages)
            if status != "fail" or messages is not outcome.messages:
                message = messages.get(lang) or messages["en"]
                results.append(Result(check.id, status, check.severity, check.category,
                                      message, messages))  # fmt: skip
                continue
        results.append(outcome.result(check, lang))
    return results


def plan(policies: PolicySet) -> Plan:
    """The set's evaluation plan, made on first use and kept with the set."""
    made = policies.cache.get("plan")
    if made is None:
        made = policies.cache["plan"] = Plan(policies)
    return cast("Plan", made)


class Outcome:
    """A check's status and messages for one set of inputs, and its Result per language
    (shared by every host with those inputs: Results are immutable)."""

    __slots__ = ("messages", "results", "status")

    def __init__(self, status: Status, messages: Mapping[str, str]) -> None:
        self.status = status
        self.messages = messages
        self.results: dict[str, Result] = {}

    def result(self, check: Check, lang: str) -> Result:
        made = self.results.get(lang)
        if made is None:
            message = self.messages.get(lang) or self.messages["en"]
            made = self.results[lang] = Result(check.id, self.status, check.severity,
                                               check.category, message, self.messages)  # fmt: skip
        return made


class Plan:
    """What each check of a set reads, and its outcomes remembered by exactly that.

    A check's outcome is a function of the values its expressions read and nothing else
    (CEL has no side effects and no clock: `now` is a derived fact like any other). A town's
    fleet is uniform - thousands of hosts with the firewall on, the same OS release, the
    same screen-lock timeout - so each check is run once per distinct input, not once per
    host: re-evaluating 20,000 hosts after a pack change runs a few thousand programs
    instead of half a million (benchmarks/policy_eval.py). The inputs are what the check
    reads (``_reads`` of that check alone): each field of each variable it reads (a list's
    elements cut to the fields read of them), compared in a form that tells 1 from 1.0 and
    True, a missing field from a null and a date from its text (:func:`_frozen`). On a miss
    the check runs on a context of its own projection of those variables.
    """

    # Outcomes kept per check. A check whose inputs are nearly unique per host (a device's
    # age in days) would grow with the fleet and rarely hit: when its memo fills with fewer
    # hits than entries it is run on every host instead, unremembered.
    LIMIT = 4096

    def __init__(self, policies: PolicySet) -> None:
        # A part is one thing a check reads: a field of a variable (with, for a list, the
        # fields kept of its elements), or a variable whole. Parts are read once a host and
        # shared by the checks that read them.
        parts: dict[tuple[str, str | None, Reads], int] = {}
        # Per check: the parts it reads (one part: its index), and its variables' reads.
        self.checks: list[tuple[Check, int | tuple[int, ...], tuple[tuple[str, Reads], ...]]] = []
        for check in policies.checks:
            own = policies.subset({check.id})
            reads = tuple((name, _reads_of(own, name)) for name in sorted(check.variables))
            ids: list[int] = []
            for name, r in reads:
                if r.fields is None:
                    ids.append(parts.setdefault((name, None, r), len(parts)))
                    continue
                for f in r.order:
                    # What matters of a field: the element fields if it is a list, and
                    # whether that list is used whole.
                    whole = f"{name}.{f}" in r.whole
                    variant = Reads(None, None if whole else r.elements, frozenset())
                    ids.append(parts.setdefault((name, f, variant), len(parts)))
            self.checks.append((check, ids[0] if len(ids) == 1 else tuple(ids), reads))
        self.parts = len(parts)
        # The parts by variable, then by field: one read of a field serves all its variants.
        by_variable: dict[str, tuple[list[tuple[int, Reads]], dict[str, list[tuple[int, Reads]]]]]
        by_variable = {}
        for (variable, read, r), pid in parts.items():
            wholes, fields = by_variable.setdefault(variable, ([], {}))
            if read is None:
                wholes.append((pid, r))
            else:
                fields.setdefault(read, []).append((pid, r))
        self.variables = [
            (variable, wholes,
             [(read, tuple(pid for pid, _ in variants), variants)
              for read, variants in fields.items()])
            for variable, (wholes, fields) in by_variable.items()
        ]  # fmt: skip
        self.memos: list[dict[Any, Outcome] | None] = [{} for _ in self.checks]
        self.hits = [0] * len(self.checks)

    def outcomes(self, report: Mapping[str, Any], derived: Mapping[str, Any]) -> list[Outcome]:
        keys = self._keys(report, derived)
        out: list[Outcome] = []
        for i, (check, ids, reads) in enumerate(self.checks):
            memo = self.memos[i]
            key = keys[ids] if isinstance(ids, int) else tuple([keys[p] for p in ids])
            outcome = memo.get(key) if memo is not None else None
            if outcome is not None:
                self.hits[i] += 1
            else:
                variables = {name: _project(r, name, derived if name == DERIVED
                                            else report.get(name))
                             for name, r in reads}  # fmt: skip
                outcome = Outcome(*_run(check, cel.Context(variables=variables)))
                if memo is not None:
                    self._remember(i, memo, key, outcome)
            out.append(outcome)
        return out

    def _keys(self, report: Mapping[str, Any], derived: Mapping[str, Any]) -> list[Any]:
        """Each part's value, in a form equal for two hosts only where CEL sees the same
        (:func:`_frozen`, inlined for the fields: this loop runs some 50 times a host)."""
        keys: list[Any] = [None] * self.parts
        dumps = pickle.dumps
        key: Any
        for name, wholes, fields in self.variables:
            source = derived if name == DERIVED else report.get(name)
            if type(source) is not dict and isinstance(source, Mapping):
                source = dict(source)
            for pid, r in wholes:  # the variable whole
                keys[pid] = _frozen(_project(r, name, source))
            if type(source) is not dict:  # null, or not a map: what CEL gets is it
                key = ("not a map", _frozen(source))
                for _, pids, _ in fields:
                    for pid in pids:
                        keys[pid] = key
                continue
            get = source.get
            for f, pids, variants in fields:
                value = get(f, _MISSING)
                kind = type(value)
                if kind is list:
                    for pid, r in variants:
                        cut = value if r.elements is None else _elements(value, r.elements)
                        keys[pid] = dumps(cut, protocol=5)
                    continue
                if kind is str or kind is int or value is None:
                    key = value
                elif kind is bool:
                    key = (bool, value)
                elif value is _MISSING:
                    key = _MISSING_KEY
                else:
                    key = dumps(value, protocol=5)
                for pid in pids:
                    keys[pid] = key
        return keys

    def _remember(
        self, i: int, memo: dict[Any, Outcome], key: Any, outcome: Outcome,
    ) -> None:  # fmt: skip
        if len(memo) >= self.LIMIT:
            if self.hits[i] < len(memo):
                self.memos[i] = None  # more misses than hits: not worth remembering
                return
            memo.clear()
            self.hits[i] = 0
        memo[key] = outcome


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


def _results(  # noqa: PLR0917  (the device checks' loop)
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


@dataclass(frozen=True, slots=True)
class Reads:
    """What is read of one variable: its first-level fields (None: all of it), the fields of
    list elements (None: elements whole), and the lists used whole, by path."""

    fields: frozenset[str] | None
    elements: frozenset[str] | None
    whole: frozenset[str]
    order: tuple[str, ...] = field(init=False, compare=False)  # ``fields``, sorted

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", tuple(sorted(self.fields or ())))


def _reads_of(policies: PolicySet, name: str) -> Reads:
    whole = frozenset(p for p in policies.whole_lists if p == name or p.startswith(f"{name}."))
    return Reads(policies.fields.get(name), policies.element_fields, whole)


def _project(reads: Reads, name: str, value: Any) -> Any:
    """The variable ``name`` cut to what is read: a mapping to its fields (a missing field
    stays missing), the mappings in its lists to the fields read of elements but for the
    lists used whole."""
    if type(value) is not dict:  # the common case first: isinstance(x, Mapping) is slow
        if isinstance(value, list):
            return value if name in reads.whole else _elements(value, reads.elements)
        if not isinstance(value, Mapping):
            return value
        value = dict(value)
    if reads.fields is None:
        return dict(value)
    out = {}
    for k in reads.order:  # the few fields read, not every field of the section
        if k in value:
            v = value[k]
            if type(v) is list and f"{name}.{k}" not in reads.whole:
                v = _elements(v, reads.elements)
            out[k] = v
    return out


_MISSING_KEY = ("missing",)  # a field the section does not have (not the same as null)


class _Missing:
    pass


_MISSING = _Missing()


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a value, equal for two values only where they are equal
    *and of one type*: a string, an int and null stand for themselves (none of them equals
    a value of another type), a bool is tagged (True == 1 in Python, not in CEL), anything
    else is pickled (1.0, -0.0, dates, lists, maps: exactly)."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value
    if kind is bool:
        return (bool, value)
    if value is _MISSING:
        return _MISSING_KEY
    return pickle.dumps(value, protocol=5)


def _elements(items: list[Any], keep: frozenset[str] | None) -> list[Any]:
    if keep is None:
        return items
    order = _ORDER.get(keep)
    if order is None:
        order = _ORDER[keep] = tuple(sorted(keep))
    # The few fields read, not every field of an element (a display has about fifteen).
    return [{k: item[k] for k in order if k in item} if type(item) is dict else item
            for item in items]  # fmt: skip


_ORDER: dict[frozenset[str], tuple[str, ...]] = {}  # element fields kept, sorted


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
