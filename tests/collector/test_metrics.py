"""/metrics: computed from the database at scrape time (real ingest path, findings drained),
checked with promtool, held against the catalogue (collector/metrics.py CATALOGUE), the alert
rules, the dashboards and the README."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collector.findings import evaluator_for
from collector.main import create_app
from collector.metrics import CATALOGUE, SPECS, Metrics, catalogue_markdown, size_class
from collector.policy import _yaml as yaml
from collector.policy.facts import os_release
from collector.policy.reference import load_reference_data
from collector.settings import Settings
from tests.collector.conftest import Env
from tests.needs import missing
from tests.policy.helpers import POLICIES_DIR, base_report, windows10_laptop

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
# Names PromQL may use besides the catalogue: Prometheus' own series and functions.
BUILTIN_SERIES = {"up"}


def host_report(machine_id: str, hostname: str, data: dict[str, Any] | None = None) -> dict:
    report = data or base_report()
    report["report_id"] = str(uuid.uuid4())
    report["host"]["machine_id"] = machine_id
    report["host"]["hostname"] = hostname
    return report


def populate(env: Env) -> None:
    """Two hosts through the real ingest path, findings evaluated:

    pc-linux: Debian 12 desktop (BIOS 2022-03-01), firewall off (sec.firewall, high), an
    open WLAN, a pending security update, reboot required;
    pc-win: Windows 10 22H2 Enterprise laptop (support ended 2025-10-14, critical)."""
    linux = host_report("m-linux", "pc-linux")
    linux["security"]["firewall"] = False
    linux["wlan"]["interfaces"] = [
        {"name": "wlan0", "connected": True, "ssid": "Gast", "security": "open"}
    ]
    linux["patches"].update(
        pending=[{"name": "openssl", "installed": "1", "available": "2", "security": True}],
        pending_count=1,
        pending_security_count=1,
        reboot_required=True,
    )
    windows = host_report("m-win", "pc-win", windows10_laptop())
    for data in (linux, windows):
        _, token = env.enroll(data["host"]["machine_id"])
        r = env.post(token, data)
        assert r.status_code == 201, r.text
    evaluator = evaluator_for(env.db)
    assert evaluator is not None and evaluator.drain(), "the evaluator did not finish"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool not installed (apt-get install prometheus)")
    return path


def test_metrics_from_the_database(env: Env) -> None:
    populate(env)
    text = env.client.get("/metrics/inventory").text
    site = {"site": "GS Nord"}
    assert value(text, "inventar_hosts", os_family="linux", site_kind="school", **site) == 1
    assert value(text, "inventar_hosts", os_family="windows", site_kind="school", **site) == 1
    kita = {"site": "Kita Sonnenschein", "site_kind": "kindergarten"}
    assert value(text, "inventar_hosts", os_family="linux", **kita) == 0
    assert value(text, "inventar_site_info", site_kind="school", **site) == 1
    info = {"os": "Debian GNU/Linux", "os_version": "12", "chassis": "desktop", "model": ""}
    assert value(text, "inventar_host_info", host="pc-linux", **site, **info) == 1
    assert value(text, "inventar_host_last_seen_timestamp_seconds", host="pc-linux", **site)
    # failing checks: per site, and per host for high and critical only
    fw = {"check": "sec.firewall", "category": "security", "severity": "high"}
    assert value(text, "inventar_check_failing_hosts", **fw, **site) == 1
    assert value(text, "inventar_host_check_failing", host="pc-linux", check="sec.firewall",
                 severity="high", **site) == 1  # fmt: skip
    assert value(text, "inventar_host_check_failing", host="pc-win", check="sec.os.supported",
                 severity="critical", **site) == 1  # fmt: skip
    assert not re.search(r'inventar_host_check_failing\{[^}]*severity="(low|medium)"', text)
    # updates, reboot, OS support end (policies/data/os_support.yaml)
    pending = "inventar_host_updates_pending"
    assert value(text, pending, host="pc-linux", **site, **{"class": "security"}) == 1
    assert value(text, pending, host="pc-linux", **site, **{"class": "other"}) == 0
    assert value(text, pending, host="pc-win", **site, **{"class": "security"}) == 0
    assert value(text, "inventar_host_reboot_required", host="pc-linux", **site) == 1
    assert value(text, "inventar_host_reboot_required", host="pc-win", **site) == 0
    since = "inventar_host_security_updates_pending_since_timestamp_seconds"
    assert value(text, since, host="pc-linux", **site) is not None
    assert value(text, since, host="pc-win", **site) is None
    end = "inventar_host_os_support_end_timestamp_seconds"
    assert value(text, end, host="pc-win", **site) == 1760400000.0  # 2025-10-14
    debian = os_release(base_report()["os"], load_reference_data(POLICIES_DIR))
    assert debian is not None
    expected = dt.datetime.combine(debian.end, dt.time(), dt.UTC).timestamp()
    assert value(text, end, host="pc-linux", **site) == expected
    # WLAN, displays, lifecycle
    assert value(text, "inventar_wlan_connections", security="open", **site) == 1
    assert value(text, "inventar_displays", size_class="24-27", **site) == 2
    due = "inventar_devices_due_replacement"
    assert value(text, due, category="desktop", year="2027", **site) == 1  # BIOS 2022 + 5
    assert value(text, "inventar_agents_enrolled") == 2
    own = env.client.get("/metrics").text  # the process's series
    assert value(own, "inventar_report_ingest_seconds_count") == 2
    assert value(own, "inventar_reports_received_total", result="stored") == 2
    assert value(text, "inventar_report_ingest_seconds_count") is None
    assert value(own, "inventar_hosts", os_family="linux", site_kind="school", **site) is None
    assert value(text, "inventar_metrics_database_up") == 1
    assert value(text, "inventar_metrics_cache_age_seconds") == 0

    # A removed host disappears from the next scrape (no stale global gauges).
    with env.db.engine.begin() as conn:
        host_id = conn.execute(sa.text("SELECT id FROM hosts WHERE hostname='pc-win'")).scalar()
        tables = ("findings", "displays", "interfaces", "wlan", "pending_patches", "software",
                  "security_update_sightings", "report_receipts", "host_changes", "host_history",
                  "host_sections")  # fmt: skip
        for table in tables:
            conn.execute(sa.text(f"DELETE FROM {table} WHERE host_id = :h"), {"h": host_id})
        conn.execute(sa.text("DELETE FROM hosts WHERE id = :h"), {"h": host_id})
    text = env.client.get("/metrics/inventory").text
    assert 'host="pc-win"' not in text and 'host="pc-linux"' in text
    assert value(text, "inventar_hosts", os_family="windows", site_kind="school", **site) == 0


def test_exposition_passes_promtool_and_matches_the_catalogue(env: Env) -> None:
    populate(env)
    exported = {}
    for path, endpoint in (("/metrics", "process"), ("/metrics/inventory", "inventory")):
        text = env.client.get(path).text
        done = subprocess.run(
            [promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
            timeout=30,
        )  # fmt: skip
        assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
            done.stdout + done.stderr
        )
        for family in text_string_to_metric_families(text):
            name = family.name + ("_total" if family.type == "counter" else "")
            # Each family on its endpoint only: a process's series on /metrics (every
            # replica), the fleet's on /metrics/inventory (once, through the balancer).
            assert SPECS[name].endpoint == endpoint, (path, name)
            assert name not in exported, name
            exported[name] = family
    assert set(exported) == set(SPECS), "catalogue and exposition differ"
    for name, family in exported.items():
        spec = SPECS[name]
        assert family.type == spec.type, name
        assert family.documentation == spec.help, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == set(spec.labels), (name, sample.labels)


def test_fast_rendering_equals_prometheus_client(env: Env) -> None:
    populate(env)
    metrics: Metrics = env.client.app.state.metrics  # type: ignore[attr-defined]
    ours = samples(metrics.render().decode())
    theirs = samples(generate_latest(metrics.registry).decode())
    skip = {"inventar_metrics_compute_seconds"}
    assert {k: v for k, v in ours.items() if k[0] not in skip} == {
        k: v for k, v in theirs.items() if k[0] not in skip
    }

    # Same lines too (labels sorted by name), but for the formatting of large numbers.
    def lines(text: str) -> list[str]:
        return [
            line.rsplit(" ", 1)[0]
            for line in text.splitlines()
            if "compute_seconds" not in line and "ingest_seconds_sum" not in line
        ]

    assert lines(metrics.render().decode()) == lines(generate_latest(metrics.registry).decode())


def test_label_values_are_escaped(env: Env) -> None:
    _, token = env.enroll("m-odd")
    assert env.post(token, host_report("m-odd", 'pc "quoted" \\ back')).status_code == 201
    text = env.client.get("/metrics/inventory").text
    assert value(text, "inventar_host_last_seen_timestamp_seconds", host='pc "quoted" \\ back',
                 site="GS Nord") is not None  # fmt: skip


def test_cache_and_its_age(db_url: str, env: Env) -> None:
    app = create_app(Settings(database_url=db_url, metrics_cache_seconds=3600), env.db)
    client = TestClient(app)  # no lifespan: a second evaluator is not needed
    first = client.get("/metrics/inventory").text
    assert value(first, "inventar_metrics_cache_age_seconds") == 0
    assert (
        value(first, "inventar_hosts", os_family="linux", site="GS Nord", site_kind="school") == 0
    )
    populate(env)
    second = client.get(
        "/metrics/inventory"
    ).text  # from the cache: the new hosts are not in it yet
    assert value(second, "inventar_hosts", os_family="linux", site="GS Nord",
                 site_kind="school") == 0  # fmt: skip
    age = value(second, "inventar_metrics_cache_age_seconds")
    assert age is not None and age > 0


def test_per_host_series_stop_above_the_limit(db_url: str, env: Env) -> None:
    populate(env)  # two hosts
    for limit, per_host in ((2, True), (1, False)):
        settings = Settings(database_url=db_url, metrics_host_series_limit=limit)
        text = TestClient(create_app(settings, env.db)).get("/metrics/inventory").text
        names = {f.name for f in text_string_to_metric_families(text)}
        assert ("inventar_host_info" in names) is per_host, limit
        assert ("inventar_host_check_failing" in names) is per_host, limit
        # The aggregates stay.
        assert value(text, "inventar_hosts", os_family="linux", site="GS Nord",
                     site_kind="school") == 1  # fmt: skip
        assert value(text, "inventar_agents_enrolled") == 2


def test_metrics_auth(db_url: str, env: Env) -> None:
    digest = hashlib.sha256(b"s3cret").hexdigest()
    for basic in ("prom:s3cret", f"prom:sha256:{digest}"):
        settings = Settings(database_url=db_url, metrics_token="tok", metrics_basic_auth=basic)
        client = TestClient(create_app(settings, env.db))

        def get(auth: str | None, client: TestClient = client) -> int:
            headers = {"Authorization": auth} if auth else {}
            codes = {
                int(client.get(path, headers=headers).status_code)
                for path in ("/metrics", "/metrics/inventory")
            }
            assert len(codes) == 1, codes  # both endpoints ask the same credentials
            return codes.pop()

        good = "Basic " + base64.b64encode(b"prom:s3cret").decode()
        assert get(None) == 401
        assert get("Bearer tok") == 200
        assert get(good) == 200
        assert get("Bearer wrong") == 401
        assert get("Basic " + base64.b64encode(b"prom:wrong").decode()) == 401
        assert get("Basic " + base64.b64encode(b"other:s3cret").decode()) == 401
        assert get("Basic !!notbase64") == 401


def test_size_classes() -> None:
    assert [size_class(d) for d in (None, 0, 15.6, 21.5, 23.8, 24, 26.9, 27, 34)] == [
        "unknown", "unknown", "<21.5", "21.5-24", "21.5-24", "24-27", "24-27", ">=27", ">=27",
    ]  # fmt: skip


# --- the catalogue against the alert rules, the dashboards and the README ---------------

CATALOGUE_SERIES = {series for spec in CATALOGUE for series in spec.series_names()}


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression (ours by prefix, plus Prometheus' own)."""
    names = set(re.findall(r"\binventar_[a-z0-9_]+", expr))
    names |= {name for name in BUILTIN_SERIES if re.search(rf"\b{name}\{{", expr)}
    return names


def rule_exprs() -> list[tuple[str, dict[str, Any]]]:
    rules = yaml.load((PROMETHEUS_DIR / "rules" / "inventar.rules.yml").read_text())
    return [(rule["expr"], rule) for group in rules["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in sorted((GRAFANA_DIR / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((path.name, target["expr"]))
        for variable in board["templating"]["list"]:
            out.append((path.name, variable["query"]["query"]))
    return out


def test_alert_rules_use_catalogue_metrics_and_are_annotated() -> None:
    references = yaml.load((ROOT / "policies" / "data" / "references.yaml").read_text())
    known = set(references["references"])
    alerts = set()
    for expr, rule in rule_exprs():
        used = promql_metrics(expr)
        assert used, rule["alert"]
        assert used <= CATALOGUE_SERIES | BUILTIN_SERIES, (rule["alert"], used)
        notes = rule["annotations"]
        for key in ("summary_de", "summary_en", "description", "reference"):
            assert notes.get(key), (rule["alert"], key)
        pattern = r"BSI [A-Z]{3,4}(?:\.[0-9A-Z]+)+|CIS \d+(?:\.\d+)?"
        for ref in re.findall(pattern, notes["reference"]):
            assert ref in known, (rule["alert"], ref)
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        alerts.add(rule["alert"])
    tests = (PROMETHEUS_DIR / "tests").glob("*.yml")
    tested = set(re.findall(r"alertname: (\w+)", "".join(p.read_text() for p in tests)))
    assert alerts == tested, "every alert has unit tests"


def test_dashboards_use_catalogue_metrics() -> None:
    exprs = dashboard_exprs()
    assert len({name for name, _ in exprs}) == 3
    used: set[str] = set()
    for name, expr in exprs:
        names = promql_metrics(expr)
        assert names, (name, expr)
        assert names <= CATALOGUE_SERIES, (name, expr)
        used |= names
    # the dashboards show what an admin needs on day one
    for metric in ("inventar_hosts", "inventar_host_check_failing", "inventar_displays",
                   "inventar_devices_due_replacement", "inventar_wlan_connections"):  # fmt: skip
        assert metric in used, metric


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    datasource = yaml.load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "inventar.yaml").read_text()
    )
    uid = datasource["datasources"][0]["uid"]
    for path in (GRAFANA_DIR / "dashboards").glob("*.json"):
        board = json.loads(path.read_text())
        assert board["uid"] and board["title"]
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid, (path.name, panel["title"])
    provider = yaml.load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "inventar.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_readme_documents_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text()
    assert catalogue_markdown() in readme, "README metrics table: print catalogue_markdown()"


def test_compose_file_mounts_what_exists() -> None:
    compose_file = ROOT / "deploy" / "compose.yaml"
    compose = yaml.load(compose_file.read_text())
    services = compose["services"]
    assert set(services) == {"collector", "postgres", "prometheus", "grafana"}
    named = set(compose.get("volumes", {}))
    targets = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (compose_file.parent / source).exists(), (name, source)
            else:
                assert source in named, (name, source)
            targets[target] = (name, source)
    assert targets["/etc/prometheus/prometheus.yml"][1] == "./prometheus/prometheus.yml"
    assert targets["/var/lib/grafana/dashboards"][1] == "./grafana/dashboards"
    # Prometheus scrapes the collector's service name and port
    config = yaml.load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"inventar-collector", "inventar-inventory"}
    assert jobs["inventar-collector"]["metrics_path"] == "/metrics"
    assert jobs["inventar-inventory"]["metrics_path"] == "/metrics/inventory"
    for job in jobs.values():
        target = job["static_configs"][0]["targets"][0]
        assert target == "collector:8740" and "8740:8740" in services["collector"]["ports"]
    assert "postgresql+psycopg://" in services["collector"]["environment"]["INVENTAR_DATABASE_URL"]
    # /metrics is closed: the collector and Prometheus share one secret file.
    secret_file = compose["secrets"]["metrics-token"]["file"]
    assert secret_file == "./secrets/metrics-token"
    assert "metrics-token" in services["collector"]["secrets"]
    assert "metrics-token" in services["prometheus"]["secrets"]
    token_env = services["collector"]["environment"]["INVENTAR_METRICS_TOKEN_FILE"]
    scrape = config["scrape_configs"][0]["authorization"]["credentials_file"]
    assert token_env == scrape == "/run/secrets/metrics-token"
    assert "--host 0.0.0.0" in " ".join(services["collector"]["command"])
    datasource = yaml.load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "inventar.yaml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
