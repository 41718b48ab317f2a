"""Policy packs: YAML -> validated, compiled checks (PolicySet) and a reloading holder.

A pack is ``policies/<name>.yaml``; the reference data lives in ``policies/data/``. The
format is documented in policies/README.md. Every CEL expression is compiled exactly once,
here; a broken pack raises PolicyLoadError listing every problem with file and check id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import cel

from agent.schema import Report, field_names
from collector.policy import _yaml
from collector.policy import failure as failure_text
from collector.policy.model import CATEGORIES, SEVERITIES, Category, Severity
from collector.policy.reference import ReferenceData, ReferenceDataError, load_reference_data

# The report's top-level names an expression may use, and `derived` for the collector's
# derived facts.
REPORT_VARIABLES: frozenset[str] = frozenset(field_names(Report))
DERIVED = "derived"
ALLOWED_VARIABLES = REPORT_VARIABLES | {DERIVED}
# A pack's `subject`: what its checks judge. `host` (default): a reporting host, by its
# report sections and derived facts; `device`: a device found by network discovery, by the
# one variable `device` (collector.findings.devices says its fields).
DEVICE = "device"
SUBJECT_VARIABLES = {"host": ALLOWED_VARIABLES, "device": frozenset({DEVICE})}

_CHECK_KEYS = {
    "id",
    "title",
    "category",
    "severity",
    "applies",
    "condition",
    "detail",
    "failure",
    "unknown",
    "remediation",
    "references",
}
_REQUIRED = ("id", "title", "category", "severity", "condition", "remediation", "references")
# Functions the CEL implementation (common-expression-language 0.10) provides; anything else
# (lowerAscii, split, join, max, ...) would only fail at evaluation time, so the loader
# refuses it. Operators (`_+_`, `@in`, `!_`) and macros (all, exists, map, ...) are not
# listed by Program.functions() as names and need no entry.
KNOWN_FUNCTIONS: frozenset[str] = frozenset(
    {
        "size", "contains", "startsWith", "endsWith", "matches",
        "int", "uint", "double", "string", "bytes", "dyn", "type",
        "timestamp", "duration",
        "getFullYear", "getMonth", "getDayOfMonth", "getDate", "getDayOfWeek",
        "getDayOfYear", "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
_ID = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9][a-z0-9-]*)+$")
# Names bound by CEL's comprehension macros: `list.all(x, ...)`, `.exists(x, ...)`, ...
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a pack: file, check id (if known) and what is wrong."""

    file: str
    check: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.check}" if self.check else self.file
        return f"{where}: {self.message}"


class PolicyLoadError(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled CEL expression and the top-level variables it reads."""

    source: str
    program: cel.Program
    variables: frozenset[str]


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: Mapping[str, str]
    category: Category
    severity: Severity
    condition: Expression
    remediation: Mapping[str, str]
    references: tuple[str, ...]
    file: str
    subject: str = "host"
    applies: Expression | None = None
    detail: Expression | None = None
    # What a failure says, per language (collector.policy.failure); () = the title.
    failure: tuple[failure_text.Alternative, ...] = ()
    # Why the result is unknown, per language, where the check can say more than the
    # engine's generic reason (the same form; no alternative applies: the generic reason).
    unknown: tuple[failure_text.Alternative, ...] = ()
    # The check's own definition, hashed: what tells a changed check from an unchanged one
    # when the packs change (only changed checks need evaluating again).
    digest: str = ""
    # The title in every language (English where a pack gives none): what a pass says; and
    # what not applying says. Built once: every host's every check returns one of them.
    titles: Mapping[str, str] = field(init=False, default_factory=dict)
    not_applicable: Mapping[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        titles = {lang: self.title.get(lang) or self.title.get("en") or self.id
                  for lang in failure_text.LANGS}  # fmt: skip
        object.__setattr__(self, "titles", titles)
        words = {"de": "nicht zutreffend", "en": "not applicable"}
        object.__setattr__(self, "not_applicable",
                           {lang: f"{titles[lang]}: {words[lang]}" for lang in titles})  # fmt: skip

    def expressions(self) -> list[Expression]:
        """Every compiled expression of the check, failure texts included."""
        out = [e for e in (self.condition, self.applies, self.detail) if e is not None]
        for alternative in (*self.failure, *self.unknown):
            if alternative.when is not None:
                out.append(alternative.when)
            for text in alternative.texts.values():
                out.extend(p for p in text.parts if isinstance(p, Expression))
        return out

    @property
    def variables(self) -> frozenset[str]:
        return frozenset().union(*(e.variables for e in self.expressions()))

    def sources(self) -> list[str]:
        """The CEL source of every expression of the check."""
        return [e.source for e in self.expressions()]


@dataclass(frozen=True)
class PolicySet:
    """All checks of a directory of packs plus its reference data, compiled and checked."""

    directory: Path
    checks: tuple[Check, ...]
    reference: ReferenceData
    digest: str
    files: tuple[str, ...] = ()
    # The report sections any check reads: only these are handed to CEL.
    report_sections: frozenset[str] = field(default_factory=frozenset)
    # The checks of packs whose subject is a discovered device (not in ``checks``).
    device_checks: tuple[Check, ...] = ()
    # The reference data's digest (data/*.yaml): derived facts change with it.
    reference_digest: str = ""
    # Of each section (and `derived`) the first-level fields the checks read; None = the
    # whole section (a list, or read in a way the loader cannot follow). Converting a value
    # to CEL costs one to three microseconds per key, so only what is read is converted.
    fields: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    # The fields the checks read of list elements (through a macro's variable: `d.refresh_hz`
    # in `displays.exists(d, ...)`), of any list; None = an element is used whole. The lists
    # in ``whole_lists`` (by path, `derived.text_char_arcmin`) keep their elements whole.
    element_fields: frozenset[str] | None = None
    whole_lists: frozenset[str] = frozenset()
    # The engine's per-set state, filled on first use (collector.policy.engine.plan: what
    # each check reads, and its outcomes remembered by those inputs). Never shared between
    # sets: ``subset`` starts an empty one.
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, directory: str | Path) -> PolicySet:
        """Load and compile every ``*.yaml`` pack in ``directory``; raise PolicyLoadError."""
        result = _load(Path(directory))
        if isinstance(result, PolicyLoadError):
            raise result
        return result

    def subset(self, check_ids: frozenset[str] | set[str]) -> PolicySet:
        """The same packs with only the host checks ``check_ids``: what evaluating some
        checks again (those a pack change changed) hands to CEL."""
        checks = [c for c in self.checks if c.id in check_ids]
        return dataclasses.replace(self, checks=tuple(checks), cache={}, **_reads(checks))

    def check(self, check_id: str) -> Check:
        for check in (*self.checks, *self.device_checks):
            if check.id == check_id:
                return check
        raise KeyError(check_id)


def lint(directory: str | Path) -> list[Problem]:
    """Every problem of the packs in ``directory`` (empty when they load cleanly)."""
    result = _load(Path(directory))
    return result.problems if isinstance(result, PolicyLoadError) else []


class Policies:
    """Holds the current PolicySet; ``reload()`` swaps in a new one only if it loads.

    The collector keeps one instance: a pack edited into a broken state is reported (the
    error is returned and can be logged or shown) while evaluation goes on with the last
    good set.
    """

    def __init__(self, directory: str | Path, initial: PolicySet | None = None) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._current = initial if initial is not None else PolicySet.load(self.directory)
        self.last_error: PolicyLoadError | None = None

    @property
    def current(self) -> PolicySet:
        return self._current

    def reload(self) -> PolicyLoadError | None:
        """Load the directory again. On success the new set becomes current and None is
        returned; on failure the previous set stays current and the error is returned."""
        result = _load(self.directory)
        with self._lock:
            if isinstance(result, PolicyLoadError):
                self.last_error = result
                return result
            if result.digest != self._current.digest:  # unchanged: keep the set and its
                self._current = result  # caches (the engine's remembered outcomes)
            self.last_error = None
            return None


def compile_expression(source: str) -> Expression:
    """Compile one CEL expression (ValueError on a syntax error)."""
    program = cel.compile(source)
    bound = set(_BOUND.findall(source))
    names = frozenset(str(v) for v in program.variables() if v not in bound)
    return Expression(source=source, program=program, variables=names)


def unknown_functions(expr: Expression) -> list[str]:
    return sorted(
        str(f)
        for f in expr.program.functions()
        if f[:1] not in ("_", "@", "!", "-") and f not in KNOWN_FUNCTIONS
    )


def _load(directory: Path) -> PolicySet | PolicyLoadError:
    problems: list[Problem] = []
    if not directory.is_dir():
        return PolicyLoadError([Problem(str(directory), None, "not a directory")])
    try:
        reference = load_reference_data(directory)
    except ReferenceDataError as exc:
        return PolicyLoadError([Problem(str(exc.file), None, exc.message)])

    files = sorted(directory.glob("*.yaml"))
    if not files:
        problems.append(Problem(str(directory), None, "no policy packs (*.yaml)"))
    digest = hashlib.sha256()
    for path in sorted(directory.glob(f"{'data'}/*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    reference_digest = digest.hexdigest()
    checks: list[Check] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            raw_text = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + raw_text)
            data = _yaml.load(raw_text.decode("utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), None, f"cannot read: {exc}"))
            continue
        except _yaml.YAMLError as exc:
            problems.append(Problem(str(path), None, f"invalid YAML: {exc}"))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
            problems.append(Problem(str(path), None, "a pack is a mapping with a `checks` list"))
            continue
        unknown_top = set(data) - {"pack", "description", "subject", "checks"}
        if unknown_top:
            problems.append(Problem(str(path), None, f"unknown keys {sorted(unknown_top)}"))
        subject = data.get("subject", "host")
        if subject not in SUBJECT_VARIABLES:
            choices = ", ".join(SUBJECT_VARIABLES)
            problems.append(Problem(str(path), None, f"subject must be one of {choices}"))
            continue
        for index, raw in enumerate(data["checks"]):
            check = _check(path, index, raw, reference, problems, subject=subject)
            if check is None:
                continue
            check = dataclasses.replace(check, digest=_check_digest(raw, subject))
            if check.id in seen:
                problems.append(
                    Problem(str(path), check.id, f"duplicate check id (first in {seen[check.id]})")
                )
                continue
            seen[check.id] = str(path)
            checks.append(check)
    if problems:
        return PolicyLoadError(problems)
    device_checks = tuple(c for c in checks if c.subject == DEVICE)
    checks = [c for c in checks if c.subject != DEVICE]
    return PolicySet(
        directory=directory,
        checks=tuple(checks),
        device_checks=device_checks,
        reference=reference,
        digest=digest.hexdigest(),
        reference_digest=reference_digest,
        files=tuple(str(p) for p in files),
        **_reads(checks),
    )


def _check_digest(raw: object, subject: str) -> str:
    text = json.dumps({"subject": subject, "check": raw}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _reads(checks: Sequence[Check]) -> dict[str, Any]:
    """What of a report the checks read (PolicySet.report_sections, fields, ...)."""
    elements, whole = element_fields_read(checks)
    sections = frozenset().union(*(c.variables for c in checks)) & REPORT_VARIABLES
    return {
        "report_sections": sections,
        "fields": fields_read(checks, sections | {DERIVED}),
        "element_fields": elements,
        "whole_lists": whole,
    }


# `name.field`: the first-level field read of a variable; a macro or function called on the
# variable itself (`displays.exists(...)`, `size(x)` does not match) reads all of it.
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter", "size", "contains",
                     "startsWith", "endsWith", "matches"})  # fmt: skip
# CEL string literals ('…', "…", with escapes): what they say is no field access.
_STRINGS = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")


_BOUND_ON = re.compile(
    r"([A-Za-z_][\w.]*)\s*\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,"
)


def element_fields_read(checks: Sequence[Check]) -> tuple[frozenset[str] | None, frozenset[str]]:
    """The fields read of list elements through the macros' variables, over all checks (a
    superset of what each list needs is enough: the rest is left out), and the lists whose
    elements are used whole (``a != null`` in ``list.exists(a, ...)``: the elements are
    values, or maps that must stay whole), by their path (``derived.text_char_arcmin``).
    None: an element of a list the loader cannot name is used whole."""
    out: set[str] = set()
    whole: set[str] = set()
    for check in checks:
        for text in check.sources():
            code = _STRINGS.sub("''", text)
            lists = {name: chain for chain, name in _BOUND_ON.findall(code)}
            for name in set(_BOUND.findall(code)):
                for match in re.finditer(rf"(?<![\w.]){re.escape(name)}\b(\s*\.\s*(\w+))?", code):
                    field_name = match.group(2)
                    bare = field_name is None and not code[match.end() :].lstrip().startswith(",")
                    if bare or field_name in _MACROS:
                        if name not in lists:
                            return None, frozenset()
                        whole.add(lists[name])
                    elif field_name is not None:
                        out.add(field_name)
    return frozenset(out), frozenset(whole)


def fields_read(checks: Sequence[Check], names: frozenset[str]) -> dict[str, frozenset[str] | None]:
    """Per variable, the first-level fields the checks' expressions read (None = all)."""
    out: dict[str, set[str] | None] = {name: set() for name in names}
    for check in checks:
        for text in check.sources():
            code = _STRINGS.sub("''", text)
            for name in names:
                for match in re.finditer(rf"(?<![\w.]){re.escape(name)}\b(\s*\.\s*(\w+))?", code):
                    read = out[name]
                    if read is None:
                        break
                    field_name = match.group(2)
                    if field_name is None or field_name in _MACROS:
                        out[name] = None
                    else:
                        read.add(field_name)
    return {name: (frozenset(read) if read is not None else None) for name, read in out.items()}


def _check(
    path: Path,
    index: int,
    raw: object,
    reference: ReferenceData,
    problems: list[Problem],
    *,
    subject: str = "host",
) -> Check | None:
    file = str(path)
    if not isinstance(raw, dict):
        problems.append(Problem(file, f"checks[{index}]", "a check is a mapping"))
        return None
    cid = raw.get("id")
    name = cid if isinstance(cid, str) and cid else f"checks[{index}]"
    before = len(problems)

    def bad(message: str) -> None:
        problems.append(Problem(file, name, message))

    for key in _REQUIRED:
        if raw.get(key) in (None, "", [], {}):
            bad(f"missing required field `{key}`")
    for key in sorted(set(raw) - _CHECK_KEYS):
        bad(f"unknown field `{key}`")
    if isinstance(cid, str) and cid and not _ID.match(cid):
        bad("id must look like `area.topic[.detail]` (lower case, dots, dashes)")
    title = _texts(raw.get("title"), "title", bad)
    remediation = _texts(raw.get("remediation"), "remediation", bad)
    category = raw.get("category")
    if category is not None and category not in CATEGORIES:
        bad(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    severity = raw.get("severity")
    if severity is not None and severity not in SEVERITIES:
        bad(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    refs = raw.get("references")
    references: tuple[str, ...] = ()
    if refs is not None:
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            bad("references must be a list of strings")
        else:
            references = tuple(refs)
            for ref in references:
                if ref not in reference.references:
                    bad(
                        f"reference {ref!r} is not in the references catalogue "
                        "(data/references.yaml)"
                    )

    def compile_(source: str, where: str) -> Expression | None:
        try:
            expr = compile_expression(source)
        except Exception as exc:  # the CEL binding raises ValueError; be safe
            bad(f"`{where}`: CEL error: {exc}")
            return None
        missing = unknown_functions(expr)
        if missing:
            bad(
                f"`{where}`: function(s) not provided by the CEL implementation: "
                f"{', '.join(missing)}"
            )
        stray = sorted(expr.variables - SUBJECT_VARIABLES[subject])
        if stray:
            allowed = "`device`" if subject == DEVICE else "report sections or `derived`"
            bad(f"`{where}`: unknown identifier(s) {', '.join(stray)} (use {allowed})")
        return expr

    compiled: dict[str, Expression | None] = {}
    for key in ("applies", "condition", "detail", "unknown_detail"):
        source = raw.get(key)
        if source is None:
            compiled[key] = None
        elif not isinstance(source, str):
            bad(f"`{key}` must be a CEL expression (a string)")
            compiled[key] = None
        else:
            compiled[key] = compile_(source, key)
    failures = failure_text.parse(raw["failure"], compile_, bad) if "failure" in raw else ()
    unknowns = (
        failure_text.parse(raw["unknown"], compile_, bad, fallback=False, key="unknown")
        if "unknown" in raw
        else ()
    )
    if len(problems) > before:
        return None
    condition = compiled["condition"]
    assert condition is not None and isinstance(cid, str)
    return Check(
        id=cid,
        title=title,
        category=cast("Category", category),
        severity=cast("Severity", severity),
        condition=condition,
        applies=compiled["applies"],
        detail=compiled["detail"],
        failure=failures,
        unknown=unknowns,
        subject=subject,
        remediation=remediation,
        references=references,
        file=file,
    )


def _texts(value: object, key: str, bad: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        bad(f"`{key}` must be a mapping with `de` and `en`")
        return {}
    for lang in ("de", "en"):
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            bad(f"`{key}.{lang}` is missing")
    return {str(k): str(v) for k, v in value.items()}
