"""A real Prometheus (Debian's /usr/bin/prometheus) scrapes a real collector process
(`inventar-collector serve` on a temporary SQLite database holding hosts with a failing
high-severity check) and answers PromQL about them through its HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.db import Database
from collector.main import create_app
from collector.services import add_site, create_enroll_secret
from collector.settings import Settings
from tests.collector.conftest import Env
from tests.collector.test_metrics import populate
from tests.integration.test_collector_e2e import COLLECTOR, free_port
from tests.needs import missing


def get(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_for(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


@pytest.fixture
def collector_url(tmp_path: Path) -> Iterator[str]:
    """The collector process on a database with hosts ingested through the real ingest path
    and the findings evaluator drained (in this process, before the server starts)."""
    db_url = f"sqlite:///{tmp_path}/inventar.db"
    db = Database(db_url)
    db.upgrade()
    with db.session() as s:
        add_site(s, "GS Nord", "school")
        secret = create_enroll_secret(s, "GS Nord")
        add_site(s, "Kita Sonnenschein", "kindergarten")
    app = create_app(Settings(database_url=db_url), db)
    with TestClient(app) as client:
        populate(Env(db, client, secret, "", "", ""))
    port = free_port()
    log = (tmp_path / "collector.log").open("wb")
    env = {**os.environ, "INVENTAR_METRICS_TOKEN": "scrape-token"}
    proc = subprocess.Popen(
        [COLLECTOR, "serve", "--port", str(port), "--database-url", db_url,
         "--log-level", "warning", "--no-access-log"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the collector", lambda: get(f"{url}/healthz")["status"] == "ok")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_prometheus_scrapes_the_collector(collector_url: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if binary is None:
        missing("prometheus not installed (apt-get install prometheus)")
    (tmp_path / "token").write_text("scrape-token")
    target = collector_url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    rules = Path(__file__).resolve().parents[2] / "deploy/prometheus/rules/inventar.rules.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{rules}]\n"
        "scrape_configs:\n"
        "  - job_name: inventar-collector\n"
        f"    authorization: {{credentials_file: {tmp_path / 'token'}}}\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
        "  - job_name: inventar-inventory\n"
        "    metrics_path: /metrics/inventory\n"
        f"    authorization: {{credentials_file: {tmp_path / 'token'}}}\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/v1"

    def query(expr: str) -> list[dict[str, Any]]:
        body = get(f"{api}/query?" + urllib.parse.urlencode({"query": expr}))
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    try:
        up = wait_for("a successful scrape", lambda: query('up{job="inventar-collector"} == 1'))
        assert up
        hosts = wait_for("inventar_hosts", lambda: query("sum(inventar_hosts)"))
        assert float(hosts[0]["value"][1]) == 2
        by_site = query('inventar_hosts{site="GS Nord",os_family="linux"}')
        assert by_site[0]["metric"]["site_kind"] == "school"
        failing = query('inventar_host_check_failing{check="sec.firewall",severity="high"}')
        assert [r["metric"]["host"] for r in failing] == ["pc-linux"]
        per_site = query('inventar_check_failing_hosts{check="sec.firewall"}')
        assert per_site[0]["metric"]["site"] == "GS Nord"
        assert float(per_site[0]["value"][1]) == 1
        # the rules load and evaluate against the live series
        rules = get(f"{api}/rules")["data"]["groups"]
        assert {g["name"] for g in rules} == {"inventar-hosts", "inventar-collector"}
        assert all(r["health"] != "err" for g in rules for r in g["rules"])
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
