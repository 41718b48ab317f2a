"""Replicas and Prometheus: the fleet's figures on /metrics/inventory, scraped through HAProxy
(the deploy file's configuration), equal those of a single collector that received the same
reports; a real Prometheus scraping both replicas' /metrics and the inventory once counts
every host and every report once. And the multi-replica deploy files agree with each other."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from collector.policy import _yaml as yaml
from tests.collector.helpers import make_report, postgres_schema
from tests.integration.replicas import Fleet, Replica, post, prepare, start_all, wait_for
from tests.integration.test_collector_e2e import free_port
from tests.needs import missing

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# The findings evaluator waits 1 s after a report instead of 10 (the figures compared include
# the failing checks, so the test waits for the evaluation).
SETTLE = {"INVENTAR_FINDINGS_SETTLE_SECONDS": "1"}


def _haproxy() -> str:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        missing("haproxy not installed (apt-get install haproxy)")
    return binary


def test_the_replica_deploy_files_agree() -> None:
    for name in ("haproxy.cfg", "compose.cfg"):
        done = subprocess.run([_haproxy(), "-c", "-f", str(DEPLOY / "haproxy" / name)],
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    compose = yaml.load((DEPLOY / "compose.replicas.yaml").read_text())
    replicas = sorted(s for s in compose["services"] if s.startswith("collector-"))
    assert len(replicas) >= 2
    cfg = (DEPLOY / "haproxy" / "compose.cfg").read_text()
    assert sorted(re.findall(r"server (collector-\d+) \1:8740", cfg)) == replicas
    assert "option httpchk GET /readyz" in cfg
    jobs = {
        j["job_name"]: j
        for j in yaml.load((DEPLOY / "prometheus" / "prometheus.replicas.yml").read_text())[
            "scrape_configs"
        ]
    }
    assert sorted(jobs["inventar-collector"]["static_configs"][0]["targets"]) == [
        f"{r}:8740" for r in replicas
    ]
    assert jobs["inventar-inventory"]["static_configs"][0]["targets"] == ["haproxy:8740"]
    assert jobs["inventar-inventory"]["metrics_path"] == "/metrics/inventory"
    volumes = compose["services"]["haproxy"]["volumes"]
    assert "./haproxy/compose.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in volumes


class _Proxy:
    """deploy/haproxy/haproxy.cfg as shipped, with this test's ports."""

    def __init__(self, root: Path, replicas: list[Replica]) -> None:
        self.port = free_port()
        text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
        text = text.replace("    log /dev/log local0\n", "")
        text = text.replace("bind :8740", f"bind 127.0.0.1:{self.port}")
        text = text.replace("inter 2s fall 2 rise 2", "inter 500ms fall 2 rise 1")
        for old, replica in zip((8741, 8742), replicas, strict=True):
            text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{replica.port}")
        config = root / "haproxy.cfg"
        config.write_text(text)
        self.proc = subprocess.Popen([_haproxy(), "-f", str(config), "-db"],
                                     stdout=(root / "haproxy.log").open("ab"),
                                     stderr=subprocess.STDOUT)  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for("haproxy", lambda: _get(f"{self.base}/readyz") is not None)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


def _figures(text: str | None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The fleet's series but for times (last seen, first sighting) and the scrape's own."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text or ""):
        if family.name.endswith("_timestamp_seconds") or family.name.startswith(
            "inventar_metrics_"
        ):
            continue
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _reports(count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        report = make_report(f"m-{i:02d}", f"pc-{i:02d}", software=2 + i % 4)
        report["security"] = {"firewall": i % 3 != 0}  # every third host fails sec.firewall
        out.append(report)
    return out


def test_inventory_through_haproxy_equals_one_collector_and_prometheus_counts_once(
    tmp_path: Path,
) -> None:
    prometheus = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if prometheus is None:
        missing("prometheus not installed (apt-get install prometheus)")
    reports = _reports(12)
    processes: list[Any] = []
    with postgres_schema() as url:
        secret = prepare(url)
        replicas = [Replica(url, tmp_path, f"collector-{i}", env=SETTLE) for i in range(2)]
        single_url = f"sqlite:///{tmp_path / 'single.db'}"
        single_secret = prepare(single_url)
        single = Replica(single_url, tmp_path, "single", env=SETTLE)
        try:
            processes.extend((*replicas, single))
            start_all([*replicas, single])
            proxy = _Proxy(tmp_path, replicas)
            processes.append(proxy)
            for base, enroll_secret in ((proxy.base, secret), (single.base, single_secret)):
                fleet = Fleet([base])
                fleet.enroll(enroll_secret, len(reports))
                for agent, report in zip(fleet.agents, reports, strict=True):
                    data = {**report, "host": {**report["host"], "machine_id": agent.machine}}
                    status, _, answer = post(f"{base}/api/v1/reports",
                                             json.dumps(data).encode(), agent.token)  # fmt: skip
                    assert status == 201, answer
            # Findings follow within the evaluator's settle time; then both agree.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                through = _figures(_get(f"{proxy.base}/metrics/inventory"))
                alone = _figures(_get(f"{single.base}/metrics/inventory"))
                failing = ("inventar_check_failing_hosts",
                           (("category", "security"), ("check", "sec.firewall"),
                            ("severity", "high"), ("site", "GS Nord")))  # fmt: skip
                if through == alone and through.get(failing) == 4:
                    break
                time.sleep(0.5)
            assert through.get(failing) == 4  # hosts 0, 3, 6, 9
            assert through == alone
            hosts = sum(v for (name, _), v in through.items() if name == "inventar_hosts")
            assert hosts == len(reports)
            # Each replica's /metrics counts its own reports only, no inventory.
            own = [_get(f"{r.base}/metrics") or "" for r in replicas]
            assert all("inventar_hosts" not in text for text in own)
            _prometheus_counts_once(prometheus, tmp_path, replicas, proxy, len(reports))
        finally:
            for process in reversed(processes):
                process.stop()


def _prometheus_counts_once(binary: str, tmp_path: Path, replicas: list[Replica],
                            proxy: _Proxy, hosts: int) -> None:  # fmt: skip
    targets = ", ".join(f"'127.0.0.1:{r.port}'" for r in replicas)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: inventar-collector\n"
        "    metrics_path: /metrics\n"
        f"    static_configs: [{{targets: [{targets}]}}]\n"
        "  - job_name: inventar-inventory\n"
        "    metrics_path: /metrics/inventory\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{proxy.port}']}}]\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=(tmp_path / "prometheus.log").open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/v1"

    def query(expr: str) -> list[dict[str, Any]]:
        text = _get(f"{api}/query?" + urllib.parse.urlencode({"query": expr}))
        if text is None:
            return []
        body = json.loads(text)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def scalar(expr: str) -> float | None:
        result = query(expr)
        return float(result[0]["value"][1]) if result else None

    try:
        wait_for("both jobs scraped",
                 lambda: scalar('count(up{job="inventar-collector"} == 1)') == 2
                 and scalar('count(up{job="inventar-inventory"} == 1)') == 1, 60)  # fmt: skip
        assert scalar("sum(inventar_hosts)") == hosts  # once, not once per replica
        assert scalar("count(inventar_host_info)") == hosts
        stored = 'sum(inventar_reports_received_total{result="stored"})'
        assert scalar(stored) == hosts  # each replica counts the reports it stored
        assert scalar('count(inventar_reports_received_total{result="stored"})') == 2
    finally:
        proc.terminate()
        proc.wait(10)
