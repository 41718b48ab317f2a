"""deploy/prometheus with the real promtool: config, rules, and the rules' unit tests (each
alert fires in one case and stays quiet in another)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.needs import missing

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*argv: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool not installed (apt-get install prometheus)")
    return subprocess.run(
        [path, *argv], capture_output=True, text=True, timeout=120, cwd=PROMETHEUS_DIR
    )


def test_config_and_rules_are_valid(tmp_path: Path) -> None:
    # The config reads the scrape token from the secret compose mounts; promtool checks that
    # the file exists, so the check runs on a copy whose secret is a file here.
    config = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    assert "credentials_file: /run/secrets/metrics-token" in config  # /metrics is closed
    token = tmp_path / "metrics-token"
    token.write_text("0123456789abcdef0123456789abcdef\n")
    copy = tmp_path / "prometheus.yml"
    copy.write_text(
        config.replace("/run/secrets/metrics-token", str(token)).replace(
            "rules/inventar.rules.yml", str(PROMETHEUS_DIR / "rules" / "inventar.rules.yml")
        )
    )
    done = promtool("check", "config", str(copy))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "rules found" in done.stdout
    done = promtool("check", "rules", "rules/inventar.rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_pass() -> None:
    tests = sorted(str(p.relative_to(PROMETHEUS_DIR)) for p in PROMETHEUS_DIR.glob("tests/*.yml"))
    assert len(tests) == 2
    done = promtool("test", "rules", *tests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(tests), done.stdout
