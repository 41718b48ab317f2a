"""Server time of the web UI with 20,000 hosts (rows inserted directly, as
benchmarks/metrics_scrape.py does; the same synthetic fleet).

Run: ``.venv/bin/python -m benchmarks.web [--hosts 20000] [--runs 40]``.
Goals (issue "The web UI, part 1"): the hosts list page and a host detail page render with
p95 <= 300 ms server time; the CSV export of all 20,000 hosts streams in <= 5 s.

Measured in-process through the ASGI app (Starlette's test client: routing, session lookup,
queries, templates; no network), as a logged-in admin who sees every organization. The list
is measured unfiltered (page 1 and a late page, sorted by hostname), filtered the way the
overview links it (a site's hosts failing a critical or high check), sorted by last report,
and with a free-text search. The hosts measured for the detail page get a full current
state (every section, 300 programs, pending updates) beside their findings.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.metrics_scrape import populate
from collector.db import Database
from collector.models import HostSection, PendingPatchRow, SoftwareRow, table_of
from collector.people import add_user

PASSWORD = "benchmark-password"
LIST_GOAL = DETAIL_GOAL = 0.300
EXPORT_GOAL = 5.0


def full_state(db: Database, host_ids: list[int]) -> None:
    """Every section of a full report for these hosts, 300 programs and pending updates."""
    sections = {
        "host": {"machine_id": "m", "hostname": "pc", "chassis": "desktop", "role": "workplace"},
        "os": {"family": "windows", "name": "Microsoft Windows 11 Pro", "version": "23H2"},
        "hardware": {"cpu_model": "Intel Core i5-8500", "cpu_cores": 6, "memory_bytes": 8 << 30},
        "displays": [{"connector": "DP-1", "vendor_pnp": "DEL", "diagonal_in": 24.0}],
        "inputs": {"external_keyboard": True, "external_pointing": True},
        "network": {"interfaces": [{"name": "eth0", "mac": "00:11:22:33:44:55",
                                    "addresses": ["10.0.0.5/24"], "up": True,
                                    "kind": "ethernet"}]},
        "wlan": {"interfaces": [{"name": "wlan0", "connected": True, "ssid": "Schule",
                                 "security": "wpa2-enterprise"}]},
        "patches": {"manager": "windows-update", "pending_count": 2, "pending_security_count": 1},
        "security": {"firewall": True, "secure_boot": True},
        "software": [{"name": f"Program {i}", "version": f"1.{i}", "publisher": "Vendor"}
                     for i in range(300)],
        "collection": {"errors": []},
    }  # fmt: skip
    programs: list[dict[str, str]] = sections["software"]  # type: ignore[assignment]
    with db.engine.begin() as conn:
        for host_id in host_ids:
            conn.execute(
                sa.insert(table_of(HostSection)),
                [{"host_id": host_id, "section": name, "data": json.dumps(data),
                  "agent_hash": ""} for name, data in sections.items()],
            )  # fmt: skip
            conn.execute(
                sa.insert(table_of(SoftwareRow)),
                [{"host_id": host_id, **row} for row in programs],
            )
            conn.execute(
                sa.insert(table_of(PendingPatchRow)),
                [{"host_id": host_id, "name": "KB5034441", "security": True}],
            )


def timed(client: Any, path: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=40)
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
        sample = random.Random(17).sample(range(1, args.hosts + 1), 20)
        full_state(db, sample)
        with db.session() as s:
            add_user(s, "bench", "admin", PASSWORD)
        print(f"inserted {args.hosts} hosts in {time.perf_counter() - started:.1f} s ({url})")
        app = create_app(Settings(database_url=url, decode_workers=0), db)
        client = TestClient(app)  # no lifespan: the findings evaluator stays off
        form = client.get("/login").text
        token = form.split('name="csrf_token" value="')[1].split('"')[0]
        form_data = {"csrf_token": token, "username": "bench", "password": PASSWORD}
        login = client.post("/login", data=form_data, follow_redirects=False)
        assert login.status_code == 303, login.text

        lists = {
            "hosts list, page 1": "/hosts",
            "hosts list, page 200": "/hosts?page=200",
            "a site's hosts failing critical/high": (
                "/hosts?site=Site+007&severity=critical&severity=high"
            ),
            "sorted by last report, descending": "/hosts?sort=last_seen&dir=desc",
            "free-text search": "/hosts?q=pc-0123",
            "overview (40 sites, 7 numbers each)": "/",
            "findings matrix": "/findings",
        }  # fmt: skip
        results: dict[str, list[float]] = {}
        for name, path in lists.items():
            timed(client, path, 2)  # warm caches (templates, SQLite pages)
            results[name] = timed(client, path, args.runs)
        detail: list[float] = []
        for host_id in sample:
            timed(client, f"/hosts/{host_id}", 1)
        for i in range(args.runs):
            detail += timed(client, f"/hosts/{sample[i % len(sample)]}", 1)
        results["host detail (full state, 300 programs)"] = detail
        # Part 2's pages over the whole fleet (fewer runs: each reads every host).
        fleet_pages = {
            "budget, what-if (every device)": "/budget?cycle_laptop=5",
            "ergonomics (every workplace)": "/ergonomics",
            "Grundschutz coverage": "/compliance",
            "WLAN per site": "/wlan",
            "audit log, page 1": "/audit",
        }
        for name, path in fleet_pages.items():
            timed(client, path, 1)
            results[name] = timed(client, path, max(3, args.runs // 4))

        print(
            f"\nserver time over {args.runs} requests each ({max(3, args.runs // 4)} for part 2's "
            "pages; limit p95 <= 300 ms for the hosts list and the host detail; the others "
            "for comparison):"
        )
        ok = True
        for name, values in results.items():
            limit = DETAIL_GOAL if name.startswith("host detail") else LIST_GOAL
            good = p95(values) <= limit
            verdict = ""  # pages without a goal are printed for comparison
            if name.startswith(("hosts list", "host detail", "a site", "sorted", "free")):
                ok &= good
                verdict = "ok" if good else "MISSED"
            print(f"  {name:42s} p50 {statistics.median(values) * 1000:6.1f} ms"
                  f"  p95 {p95(values) * 1000:6.1f} ms  {verdict}")  # fmt: skip

        started = time.perf_counter()
        first_byte = None
        size = lines = 0
        with client.stream("GET", "/hosts.csv") as response:
            for chunk in response.iter_bytes():
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                size += len(chunk)
                lines += chunk.count(b"\n")
        export = time.perf_counter() - started
        good = export <= EXPORT_GOAL and lines == args.hosts + 1
        ok &= good
        verdict = "ok" if good else "MISSED"
        print(
            f"\nCSV export of all {lines - 1} hosts: {export:.2f} s (limit 5 s), first bytes "
            f"after {first_byte or 0:.3f} s, {size / 1e6:.1f} MB  {verdict}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
