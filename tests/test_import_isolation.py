"""The agent stays light: importing it loads none of the collector's dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "fastapi",
    "starlette",
    "uvicorn",
    "alembic",
    "psycopg",
    "celpy",
    "cel",
    "paramiko",
    "prometheus_client",
)

SCRIPT = """
import importlib, json, pkgutil, sys
import agent
for m in pkgutil.walk_packages(agent.__path__, "agent."):
    if not m.name.endswith("__main__"):
        importlib.import_module(m.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_every_agent_module_pulls_no_collector_dependency():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out)
    assert "agent.probes.host" in loaded  # the walk did import the probes
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY]
    assert heavy == []
