"""Builds the composite Windows bundles in a temporary directory: the committed part
(``tests/fixtures/<bundle>/``: commands and their captured output) plus the registry and
Windows Update Agent parts that bundle.json's ``parts`` name. Corpus parts are real data
read where it lies (``../shared/corpus``, never copied into the repository); without the
corpus the test is skipped, and fails under CI (tests/needs.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from agent.bundle import REGISTRY_FILE, UPDATE_AGENT_FILE
from agent.parsers import regfile
from tests.needs import missing

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
CORPUS = TESTS.parent.parent / "shared" / "corpus"
WINDOWS = ["windows-10-de-laptop", "windows-10-en-laptop", "windows-11-en-laptop"]


def part_path(source: str) -> Path:
    """``corpus/...`` is under ../shared/corpus, ``fixtures/...`` under tests/fixtures."""
    head, _, rest = source.partition("/")
    if head == "corpus":
        path = CORPUS / rest
        if not path.exists():
            missing(f"the shared corpus ({path}) is needed for this bundle's registry part")
        return path
    if head == "fixtures":
        return FIXTURES / rest
    raise ValueError(f"unknown part source {source!r}")


def parts(name: str) -> list[dict[str, str]]:
    meta = json.loads((FIXTURES / name / "bundle.json").read_text(encoding="utf-8"))
    result: list[dict[str, str]] = meta["parts"]
    return result


def merged_registry(sources: list[Path]) -> regfile.RegFile:
    merged = regfile.RegFile()
    for source in sources:
        reg = regfile.parse(source.read_bytes())
        for folded, path in reg.deleted.items():
            merged.keys.pop(folded, None)
            merged.deleted[folded] = path
        for folded, key in reg.keys.items():
            merged.deleted.pop(folded, None)
            target = merged.keys.setdefault(folded, regfile.RegKey(key.path))
            target.values.update(key.values)
            target.deleted_values |= key.deleted_values
    return merged


def update_agent(name: str) -> dict[str, Any]:
    from agent.probes.windows.patches import CRITERIA

    answers: dict[str, Any] = {}
    for part in parts(name):
        kind = part["part"]
        if not kind.startswith("update-agent:"):
            continue
        records = json.loads(part_path(part["source"]).read_text(encoding="utf-8"))
        if kind == "update-agent:search":
            answers.setdefault("search", {})[CRITERIA] = {"value": records}
        else:
            answers[kind.split(":", 1)[1]] = {"value": records}
    return answers


def assemble(name: str, directory: Path) -> Path:
    """The whole composite bundle ``name`` in ``directory``/name."""
    target = directory / name
    shutil.copytree(FIXTURES / name, target)
    registry = [part_path(p["source"]) for p in parts(name) if p["part"] == "registry"]
    text = regfile.format_file(merged_registry(registry))
    (target / REGISTRY_FILE).write_bytes(regfile.encode(text))
    (target / UPDATE_AGENT_FILE).write_text(
        json.dumps(update_agent(name), indent=1, ensure_ascii=False), encoding="utf-8"
    )
    return target
