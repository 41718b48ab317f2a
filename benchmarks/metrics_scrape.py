"""Scrape cost of /metrics with 20,000 hosts (synthetic rows inserted directly into the DB).

Run: ``.venv/bin/python benchmarks/metrics_scrape.py [--hosts 20000] [--runs 7]``.
Goal (issue "Prometheus metrics"): median scrape under 1 s. Every scrape computes the
inventory from the database (``metrics_cache_seconds=0``) from the stored current state and
derived facts (hosts' columns, display rows; no report is read).

Also printed side by side: rendering the same inventory families with the hand-written
writer (collector/metrics/exposition.py ``Family.render``) and with prometheus_client's
``generate_latest`` over the same families as ``GaugeMetricFamily`` objects — the figure that
decides whether the hand-written writer stays.

Per host: its derived facts (category, start date and source, OS support end, reboot flag),
two pending updates (one security), one display, one WLAN connection, ten current findings
(about every fifth failing, a part of them high or critical), one security update sighting
for every third host.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector.db import Database
from collector.models import (
    Agent,
    DisplayRow,
    Finding,
    Host,
    PendingPatchRow,
    ReportReceipt,
    SecurityUpdateSighting,
    WlanRow,
    table_of,
)
from collector.services import add_org, add_site

KINDS = ("school", "kindergarten", "town-hall", "other")
CHECKS = (
    ("sec.updates.security-pending", "security", "high"),
    ("sec.os.supported", "security", "critical"),
    ("sec.firewall", "security", "high"),
    ("sec.disk.encryption", "security", "high"),
    ("sec.screenlock", "security", "medium"),
    ("sec.reboot.pending", "security", "medium"),
    ("erg.display.size", "ergonomics", "low"),
    ("life.device.age", "lifecycle", "low"),
    ("life.memory", "lifecycle", "low"),
    ("sec.wlan.encryption", "security", "high"),
)
OSES = (
    ("linux", "Debian GNU/Linux", "12", "12.10", None),
    ("windows", "Microsoft Windows 11 Pro", "23H2", "22631.4460", "Professional"),
    ("windows", "Microsoft Windows 10 Pro", "22H2", "19045.5011", "Professional"),
    ("darwin", "macOS", "14.6", "23G80", None),
)
WLAN = ("wpa2-enterprise", "wpa2-psk", "wpa3-sae", "open")


def populate(db: Database, hosts: int, sites: int = 40) -> None:
    """Insert ``hosts`` synthetic hosts over ``sites`` sites (a migrated, empty database)."""
    with db.session() as s:
        org = add_org(s, "Benchstadt")
        site_ids = [
            add_site(s, f"Site {i:03d}", KINDS[i % len(KINDS)], org.name).id for i in range(sites)
        ]
    assert org.id is not None
    now = dt.datetime.now(dt.UTC)
    rows: dict[str, list[dict[str, object]]] = {
        name: []
        for name in ("agents", "hosts", "receipts", "pending", "displays", "wlan", "findings")
    }
    sightings: list[dict[str, object]] = []
    for i in range(hosts):
        host_id = i + 1
        family, os_name, version, build, _edition = OSES[i % len(OSES)]
        report_id = str(uuid.uuid4())
        agent_id = str(uuid.uuid4())
        chassis = "laptop" if i % 3 == 0 else "desktop"
        bios = dt.date(2015 + i % 10, 1 + i % 12, 1)
        rows["agents"].append(
            {"id": agent_id, "site_id": site_ids[i % sites], "machine_id": f"m-{i:06d}",
             "token_hash": f"{i:064x}", "revoked": False, "created_at": now}
        )  # fmt: skip
        rows["hosts"].append(
            {"id": host_id, "org_id": org.id, "site_id": site_ids[i % sites],
             "machine_id": f"m-{i:06d}", "agent_id": agent_id, "hostname": f"pc-{i:06d}",
             "chassis": chassis, "model": f"Model {i % 20}", "os_family": family,
             "os_name": os_name, "os_version": version, "os_build": build,
             "first_seen": now, "last_seen": now - dt.timedelta(minutes=i % 5000),
             "last_report_id": report_id, "section_hashes": {}, "stable_hashes": {},
             "bios_date": bios, "device_category": chassis, "start_date": bios,
             "start_source": "bios", "reboot_required": i % 7 == 0,
             "os_support_end": dt.date(2025 + i % 8, 10, 14)}
        )  # fmt: skip
        rows["receipts"].append(
            {"report_id": report_id, "host_id": host_id, "collected_at": now, "received_at": now}
        )
        for security in (True, False):
            rows["pending"].append(
                {"host_id": host_id, "name": f"pkg-{security}", "security": security}
            )
        rows["displays"].append(
            {"host_id": host_id, "internal": chassis == "laptop",
             "diagonal_in": (14.0, 21.5, 24.0, 27.0, None)[i % 5], "year": 2014 + i % 10,
             "external": chassis != "laptop", "start_date": dt.date(2014 + i % 10, 1, 1),
             "start_source": "edid"}
        )  # fmt: skip
        rows["wlan"].append(
            {"host_id": host_id, "connected": True, "security": WLAN[i % len(WLAN)]}
        )
        for j, (check, category, severity) in enumerate(CHECKS):
            failing = (i + j) % 5 == 0
            rows["findings"].append(
                {"host_id": host_id, "check_id": check, "status": "fail" if failing else "pass",
                 "severity": severity, "category": category, "message": "", "first_seen": now,
                 "last_seen": now, "last_failed": now if failing else None}
            )  # fmt: skip
        if i % 3 == 0:
            sightings.append(
                {"host_id": host_id, "name": "pkg-True", "first_seen": now - dt.timedelta(days=40)}
            )
    tables: dict[str, type[SQLModel]] = {
        "agents": Agent,
        "hosts": Host,
        "receipts": ReportReceipt,
        "pending": PendingPatchRow,
        "displays": DisplayRow,
        "wlan": WlanRow,
        "findings": Finding,
    }
    with db.engine.begin() as conn:
        for name, model in tables.items():
            table = table_of(model)
            for k in range(0, len(rows[name]), 5000):
                conn.execute(sa.insert(table), rows[name][k : k + 5000])
        if sightings:
            conn.execute(
                sa.insert(table_of(SecurityUpdateSighting)),
                sightings,
            )


def series_count(exposition: str) -> int:
    return sum(1 for line in exposition.splitlines() if line and not line.startswith("#"))


def compare_writers(db: Database, runs: int) -> None:
    """The same inventory families rendered by Family.render and by generate_latest."""
    from collections.abc import Iterator

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector

    from collector.metrics.inventory import InventoryCollector

    families = InventoryCollector(db).snapshot()

    class Fixed(Collector):
        def collect(self) -> Iterator[Metric]:
            for family in families:
                yield family.to_prometheus()

    registry = CollectorRegistry()
    registry.register(Fixed())

    def hand_written() -> bytes:
        out: list[str] = []
        escaped: dict[str, str] = {}
        for family in families:
            family.render(out, escaped)
        return "".join(out).encode()

    timings: dict[str, list[float]] = {"Family.render": [], "generate_latest": []}
    for _ in range(runs):
        for name, render in (("Family.render", hand_written),
                             ("generate_latest", lambda: generate_latest(registry))):  # fmt: skip
            t0 = time.perf_counter()
            render()
            timings[name].append(time.perf_counter() - t0)
    series = sum(len(f.rows) for f in families)
    print(f"rendering {series} inventory series, median of {runs}:")
    for name, values in timings.items():
        print(f"  {name:16s} {statistics.median(values):.3f} s"
              f" (min {min(values):.3f}, max {max(values):.3f})")  # fmt: skip
    ratio = statistics.median(timings["generate_latest"]) / statistics.median(
        timings["Family.render"]
    )
    print(f"  generate_latest / Family.render: {ratio:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from collector.main import create_app
    from collector.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        db = Database(url)
        db.upgrade()
        started = time.perf_counter()
        populate(db, args.hosts)
        print(f"inserted {args.hosts} hosts in {time.perf_counter() - started:.1f} s ({url})")
        app = create_app(Settings(database_url=url, metrics_cache_seconds=0), db)
        client = TestClient(app)  # no lifespan: the findings evaluator stays off
        if client:
            times = []
            body = ""
            for _ in range(args.runs + 1):
                t0 = time.perf_counter()
                response = client.get("/metrics/inventory")
                times.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text
                body = response.text
        first, rest = times[0], times[1:]
        median = statistics.median(rest)
        print(f"first scrape: {first:.3f} s")
        print(
            f"scrape median of {len(rest)}: {median:.3f} s"
            f" (min {min(rest):.3f}, max {max(rest):.3f})"
        )
        print(f"series: {series_count(body)}, exposition: {len(body) / 1e6:.1f} MB")
        goal = median < 1.0
        print("goal median < 1 s:", "ok" if goal else "MISSED")
        compare_writers(db, args.runs)
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
