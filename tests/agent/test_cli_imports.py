"""What a plain `inventar-agent collect` and the service load: no support-bundle code, no
pydantic, no apscheduler.

A one-shot inventory is what the footprint comparison with fusioninventory measures, and
the service carries every module it loads between jobs; these tests fail when an import
sneaks back in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, os, sys
from agent.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


def _run(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> dict[str, object]:
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "collect", "--only", "os", "--output", str(out), *argv],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    assert result["rc"] == 0
    assert json.loads(out.read_text())["os"]["family"] == "linux"
    return result


def _pydantic(modules: object) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if m == "pydantic" or m.startswith(("pydantic.", "pydantic_"))]


def test_plain_collect_imports_no_support_bundle_code_and_no_pydantic(tmp_path: Path) -> None:
    modules = _run(tmp_path)["modules"]
    assert isinstance(modules, list)
    assert "agent.schema" in modules  # the report was built
    for name in ("agent.bundle", "agent.parsers.regfile", "agent.registry", "agent.cli_service"):
        assert name not in modules
    assert _pydantic(modules) == []


def test_the_service_imports_no_pydantic() -> None:
    # What `inventar-agent run` keeps resident between jobs: pydantic alone was ~12-17 MiB.
    script = (
        "import json, sys\n"
        "import agent.cli_service, agent.scheduler, agent.transport, agent.config\n"
        "from agent.probes import probe_for\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    modules = json.loads(done.stdout)
    assert _pydantic(modules) == []
    # Nor apscheduler and what it imported (asyncio, multiprocessing, importlib.metadata:
    # ~3.4 MiB): the service's timetable is the standard library's sched.
    heavy = ("apscheduler", "asyncio", "multiprocessing", "importlib.metadata", "tzlocal")
    assert [m for m in modules if m.split(".")[0] in heavy or m in heavy] == []


def test_record_and_replay_still_use_support_bundles(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    modules = _run(tmp_path, "--record", str(bundle))["modules"]
    assert isinstance(modules, list) and "agent.bundle" in modules
    recorded = json.loads((tmp_path / "report.json").read_text())["os"]
    assert (bundle / "bundle.json").exists()
    _run(tmp_path, "--replay", str(bundle))
    assert json.loads((tmp_path / "report.json").read_text())["os"] == recorded
