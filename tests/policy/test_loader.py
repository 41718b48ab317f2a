"""Loading packs: the references catalogue, broken packs, reload keeping the last good set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from collector.policy import Policies, PolicyLoadError, PolicySet, lint
from tests.policy.helpers import POLICIES_DIR

GOOD_CHECK = """\
pack: extra
checks:
  - id: x.demo
    title: {de: Demo, en: Demo}
    category: security
    severity: low
    condition: security.firewall
    remediation: {de: Tun, en: Do}
    references: [CIS 4.5]
"""


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, target, ignore=shutil.ignore_patterns("*.md"))
    return target


def test_shipped_packs_load_and_lint_clean(policies: PolicySet) -> None:
    assert lint(POLICIES_DIR) == []
    ids = [c.id for c in policies.checks]
    assert len(ids) == len(set(ids)) >= 24


def test_every_reference_is_in_the_catalogue(policies: PolicySet) -> None:
    catalogue = policies.reference.references
    for check in policies.checks:
        assert check.references, check.id
        for ref in check.references:
            assert ref in catalogue, f"{check.id}: {ref}"


def test_reference_data_has_sources(policies: PolicySet) -> None:
    support = policies.reference.os_support
    for win in support.windows:
        assert win.source.strip()
    for named in [*support.linux, *support.darwin]:
        assert named.source.strip()
    cats = policies.reference.lifecycle.categories
    assert {k: v.replacement_years for k, v in cats.items()} == {
        "desktop": 5, "laptop": 4, "tablet": 4, "monitor": 7,
    }  # fmt: skip


def test_expressions_get_only_referenced_sections(policies: PolicySet) -> None:
    assert "software" not in policies.report_sections
    assert policies.check("sec.firewall").variables == {"security"}


def _add(packs: Path, text: str, name: str = "extra.yaml") -> Path:
    path = packs / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("condition: security.firewall", "condition: security.firewall &&"), "CEL error"),
        (("    severity: low\n", ""), "missing required field `severity`"),
        (("[CIS 4.5]", "[CIS 99.9]"), "not in the references catalogue"),
        (("condition: security.firewall", "condition: securty.firewall"), "unknown identifier"),
        (("condition: security.firewall", "condition: os.name.lowerAscii() == 'x'"), "lowerAscii"),
        (("severity: low", "severity: urgent"), "severity 'urgent'"),
        (("    title: {de: Demo, en: Demo}\n", "    title: {en: Demo}\n"), "`title.de`"),
        (("    severity: low\n", "    severity: low\n    colour: red\n"), "unknown field"),
    ],
)
def test_broken_pack_names_file_and_check(
    packs: Path, change: tuple[str, str], expected: str
) -> None:
    path = _add(packs, GOOD_CHECK.replace(*change))
    with pytest.raises(PolicyLoadError) as info:
        PolicySet.load(packs)
    text = str(info.value)
    assert str(path) in text
    assert "x.demo" in text
    assert expected in text


def test_duplicate_id_names_both_files(packs: Path) -> None:
    path = _add(packs, GOOD_CHECK.replace("x.demo", "sec.firewall"), "zz-extra.yaml")
    with pytest.raises(PolicyLoadError) as info:
        PolicySet.load(packs)
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert problem.check == "sec.firewall"
    assert "duplicate" in problem.message and "security.yaml" in problem.message


def test_invalid_yaml_and_reference_data(packs: Path) -> None:
    _add(packs, "checks: [\n")
    assert "invalid YAML" in str(lint(packs)[0])
    (packs / "extra.yaml").unlink()
    (packs / "data" / "lifecycle.yaml").write_text("categories: {desktop: {}}\nchassis: {}\n")
    problems = lint(packs)
    assert problems and "lifecycle.yaml" in problems[0].file


def test_good_extra_pack_loads(packs: Path) -> None:
    _add(packs, GOOD_CHECK)
    assert PolicySet.load(packs).check("x.demo").severity == "low"


def test_reload_keeps_last_good_set(packs: Path) -> None:
    holder = Policies(packs)
    first = holder.current
    extra = _add(packs, GOOD_CHECK.replace("security.firewall", "security.firewall)"))
    error = holder.reload()
    assert isinstance(error, PolicyLoadError)
    assert "x.demo" in str(error)
    assert holder.current is first
    assert holder.last_error is error

    extra.write_text(GOOD_CHECK, encoding="utf-8")
    assert holder.reload() is None
    assert holder.current is not first
    assert holder.current.check("x.demo")
    assert holder.current.digest != first.digest


def test_reload_of_unchanged_packs_keeps_the_set_and_what_it_remembered(packs: Path) -> None:
    """The evaluator reloads every minute: an unchanged directory must not throw away the
    engine's remembered outcomes (kept with the set)."""
    holder = Policies(packs)
    first = holder.current
    first.cache["plan"] = marker = object()
    assert holder.reload() is None
    assert holder.current is first and holder.current.cache["plan"] is marker
    _add(packs, GOOD_CHECK)
    assert holder.reload() is None
    assert holder.current is not first and "plan" not in holder.current.cache
