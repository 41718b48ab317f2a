"""The checks' documentation, generated from the packs (``inventar-collector policy docs``):
docs/checks.md lists every check with id, severity, German and English title, what it says
when it fails, to which hosts it applies, its condition and references. A test keeps the
file current."""

from __future__ import annotations

from collections.abc import Iterable

from collector.policy.failure import Alternative, Text
from collector.policy.loader import Check, PolicySet

HEADER = """# The checks

Generated from the policy packs in `policies/` by `inventar-collector policy docs >
docs/checks.md`; do not edit by hand (a test compares). The pack format is in
[policies/README.md](../policies/README.md). A check **passes** when its title holds; when
it fails, the finding says what is wrong with the text under "fails with" (`{{ … }}` are
facts of the host or device, written per language).
"""


def markdown(policies: PolicySet) -> str:
    out = [HEADER]
    by_file: dict[str, list[Check]] = {}
    for check in (*policies.checks, *policies.device_checks):
        by_file.setdefault(check.file, []).append(check)
    for file, checks in by_file.items():
        name = file.rsplit("/", 1)[-1]
        subject = "discovered devices" if checks[0].subject == "device" else "hosts"
        out.append(f"\n## `{name}` ({len(checks)} checks on {subject})\n")
        out.append("| id | severity | category | title (de) | title (en) |")
        out.append("| --- | --- | --- | --- | --- |")
        out.extend(
            f"| [`{c.id}`](#{_anchor(c.id)}) | {c.severity} | {c.category} | "
            f"{_cell(c.titles['de'])} | {_cell(c.titles['en'])} |"
            for c in checks
        )
        for check in checks:
            out.append(_check(check))
    return "\n".join(out).rstrip() + "\n"


def _check(check: Check) -> str:
    lines = [f"\n### {check.id}\n", f"{check.titles['de']} — {check.titles['en']}\n"]
    lines.append(f"- severity **{check.severity}**, category {check.category}")
    if check.applies is not None:
        lines.append(f"- applies when `{_code(check.applies.source)}`")
    lines.append(f"- passes when `{_code(check.condition.source)}`")
    if check.failure:
        lines.append("- fails with:")
        lines.extend(_failure(check.failure))
    lines.append(f"- remediation (de): {check.remediation.get('de', '')}")
    lines.append(f"- remediation (en): {check.remediation.get('en', '')}")
    lines.append(f"- references: {', '.join(check.references)}")
    return "\n".join(lines)


def _failure(alternatives: Iterable[Alternative]) -> list[str]:
    out = []
    for alternative in alternatives:
        when = f"when `{_code(alternative.when.source)}`: " if alternative.when else ""
        for lang in ("de", "en"):
            text = alternative.texts.get(lang)
            if text is not None:
                out.append(f"  - {when}({lang}) {_text(text)}")
    return out


def _text(text: Text) -> str:
    return "".join(p if isinstance(p, str) else f"`{{{{ {_code(p.source)} }}}}`"
                   for p in text.parts)  # fmt: skip


def _code(source: str) -> str:
    return " ".join(source.split()).replace("`", "'")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _anchor(check_id: str) -> str:
    return check_id.replace(".", "").lower()
