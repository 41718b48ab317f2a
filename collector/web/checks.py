"""The policy packs as the pages need them: each check's title, remediation and references
in the person's language, and a finding's own detail without the English title around it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request

from collector.findings import evaluator_for
from collector.policy import PolicySet
from collector.policy.loader import Check


def policies(request: Request) -> PolicySet:
    """The packs the running evaluator uses, else (no evaluator: a test client without its
    lifespan) the packs of the settings' directory, loaded once."""
    db = request.app.state.db
    evaluator = evaluator_for(db)
    if evaluator is not None and evaluator.policies is not None:
        return evaluator.policies.current
    cached: PolicySet | None = getattr(request.app.state, "web_policies", None)
    if cached is None:
        cached = PolicySet.load(request.app.state.settings.policies_dir)
        request.app.state.web_policies = cached
    return cached


@dataclass(frozen=True)
class CheckText:
    id: str
    title: str
    remediation: str
    references: list[tuple[str, str]]  # (id, title)
    category: str
    severity: str


def check_text(packs: PolicySet, check_id: str, lang: str) -> CheckText:
    try:
        check: Check | None = packs.check(check_id)
    except KeyError:
        check = None
    if check is None:  # a check removed from the packs: its history stays readable
        return CheckText(check_id, check_id, "", [], "", "")
    refs = packs.reference.references
    return CheckText(
        check.id,
        check.title.get(lang) or check.title.get("en") or check.id,
        check.remediation.get(lang) or check.remediation.get("en") or "",
        [(ref, refs.get(ref, "")) for ref in check.references],
        check.category,
        check.severity,
    )


# What the engine appends to a waived (or no longer waived) failure, in either language; the
# page shows the waiver from its own columns.
_WAIVER_MARKERS = (" [waived until ", " [waiver expired ", " [Ausnahme bis ",
                   " [Ausnahme abgelaufen am ")  # fmt: skip


def detail(packs: PolicySet, check_id: str, messages: Mapping[str, str], lang: str) -> str:
    """What a finding says beyond its check's title, in the page's language: the failure
    text ("Secure Boot ist ausgeschaltet"), or the reason of an unknown result; the English
    message where the packs gave no text in ``lang`` (a finding from before both were kept)."""
    text = messages.get(lang) or messages.get("en") or ""
    shown = lang if lang in messages else "en"
    try:
        title = packs.check(check_id).titles.get(shown, "")
    except KeyError:
        title = ""
    for marker in _WAIVER_MARKERS:
        at = text.rfind(marker)
        if at >= 0 and text.endswith("]"):
            text = text[:at]
    if title and text.startswith(title):
        text = text[len(title) :].lstrip(": ").strip()
    return text
