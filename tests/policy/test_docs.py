"""docs/checks.md is what `inventar-collector policy docs` prints for the shipped packs."""

from __future__ import annotations

from pathlib import Path

from collector.policy import PolicySet
from collector.policy.docs import markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "checks.md"


def test_the_checks_documentation_is_current(policies: PolicySet) -> None:
    assert DOCS.read_text(encoding="utf-8") == markdown(policies), (
        "docs/checks.md is stale: inventar-collector policy docs > docs/checks.md"
    )


def test_every_check_is_documented_with_its_texts(policies: PolicySet) -> None:
    text = DOCS.read_text(encoding="utf-8")
    for check in (*policies.checks, *policies.device_checks):
        assert f"\n### {check.id}\n" in text
        assert check.titles["de"] in text and check.titles["en"] in text
        assert all(ref in text for ref in check.references)
