"""What a plain `inventar-agent collect` loads: no support-bundle code, no pydantic plugin scan.

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
print(json.dumps({"rc": rc, "modules": sorted(sys.modules),
                  "plugins": os.environ.get("PYDANTIC_DISABLE_PLUGINS")}))
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


def test_plain_collect_imports_no_support_bundle_code(tmp_path: Path) -> None:
    modules = _run(tmp_path, env={"PYDANTIC_DISABLE_PLUGINS": ""})["modules"]
    assert isinstance(modules, list)
    assert "agent.schema" in modules  # the report was built
    for name in ("agent.bundle", "agent.parsers.regfile", "agent.registry", "agent.cli_service"):
        assert name not in modules


def test_collect_disables_the_pydantic_plugin_scan_unless_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "collect", "--only", "os", "--output", str(out)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert json.loads(done.stdout.splitlines()[-1])["plugins"] == "__all__"
    # An administrator's own setting is kept.
    assert _run(tmp_path, env={"PYDANTIC_DISABLE_PLUGINS": "logfire"})["plugins"] == "logfire"


def test_record_and_replay_still_use_support_bundles(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    modules = _run(tmp_path, "--record", str(bundle))["modules"]
    assert isinstance(modules, list) and "agent.bundle" in modules
    recorded = json.loads((tmp_path / "report.json").read_text())["os"]
    assert (bundle / "bundle.json").exists()
    _run(tmp_path, "--replay", str(bundle))
    assert json.loads((tmp_path / "report.json").read_text())["os"] == recorded
