"""A town's day of reports: how many bytes the database grows per host and day.

300 hosts stand for a town of 3,000 (factor 10: the figures are per host, so the factor does
not change them). Each sends a full inventory at the start (~300 packages, as
benchmarks/ingest.py), then a status report every 15 minutes of a simulated day (96 per
host) built with the agent's own code (agent.delta.wire_body): WLAN signal, free space and
boot time (a Windows agent derives it from the uptime, so it jitters) change in every one,
the package lists' refresh time every 6 hours, and 1 % of the hosts get a package updated
at a random time of the day. Reports go through the collector's real ingest (decode,
store_decoded) in this process, without HTTP.

Prints the bytes the database grew by during the day of status reports, per host, in
total and per table group: the history and change log (kept for the retention, 730 days by
default) and the report receipts (kept 45 days, then their space is reused: they do not
grow the database past 45 days of them). Goal: <= 5 KB per host per day on SQLite. Also
checks that the change log lists every package update that happened. On PostgreSQL the
tables are VACUUMed every simulated hour, as autovacuum would over a real day (the
day runs in minutes here); sizes are pg_total_relation_size (tables, indexes, TOAST).

    .venv/bin/python -m benchmarks.history [--hosts 300] [--no-postgres] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.delta import Base, encode, wire_body  # noqa: E402
from agent.schema import SECTIONS, Report, convert, object_data  # noqa: E402
from benchmarks.ingest import drop_schema, make_report, postgres_url  # noqa: E402
from collector import history  # noqa: E402
from collector.api.ingest_endpoint import store_for  # noqa: E402
from collector.db import Database  # noqa: E402
from collector.ingest import find_agent  # noqa: E402
from collector.limits import Limits  # noqa: E402
from collector.report_decoding import decode  # noqa: E402
from collector.security import hash_secret  # noqa: E402
from collector.services import add_site, create_enroll_secret, enroll  # noqa: E402

TOWN = 3000
DAY_START = dt.datetime(2026, 9, 14, 6, 0, tzinfo=dt.UTC)
STATUS_SECTIONS = ("host", "os", "hardware", "network", "wlan", "security", "patches")
GROUPS = {
    "history and change log (kept 730 days)": ("host_history", "host_changes"),
    "report receipts (kept 45 days)": ("report_receipts",),
}


def dump(report: dict[str, Any]) -> dict[str, Any]:
    return object_data(convert(report, Report))


class Fleet:
    """The hosts of the town as their agents see them."""

    def __init__(self, db: Database, hosts: int, rng: random.Random) -> None:
        self.db = db
        self.rng = rng
        with db.session() as s:
            add_site(s, "Benchstadt", "school")
            secret = create_enroll_secret(s, "Benchstadt")
        self.agents = []
        for i in range(hosts):
            machine_id = uuid.uuid5(uuid.NAMESPACE_DNS, f"town-{i}").hex
            with db.write_session() as s:
                token = enroll(s, secret, machine_id, f"pc-{i}").token
            token_hash = hash_secret(token)
            with db.engine.connect() as conn:
                agent = find_agent(conn, token_hash)
            assert agent is not None
            self.agents.append((agent, token_hash, machine_id))
        self.machines: list[dict[str, Any]] = []
        self.bases: list[Base | None] = [None] * hosts
        self.updates: list[tuple[int, str, str, str]] = []  # host, package, old, new
        self.limits = Limits()
        self.host_ids: list[int] = [0] * hosts

    def send(self, index: int, report: dict[str, Any], collected: tuple[str, ...]) -> None:
        body, current = wire_body(report, collected, self.bases[index])
        agent, token_hash, _machine = self.agents[index]
        result = store_for(self.db, agent, token_hash, decode(encode(body), None, self.limits))
        assert result.status == "stored", result
        self.host_ids[index] = result.host_id
        self.bases[index] = Base(report["report_id"], current)

    def full_inventories(self) -> None:
        for index, (_agent, _hash, machine_id) in enumerate(self.agents):
            software = [{"name": f"package-{self.rng.randint(0, 5000)}-{k}", "version": f"{k}.0",
                         "publisher": "Debian"} for k in range(300)]  # fmt: skip
            report = make_report(machine_id, 0, software)
            report["collected_at"] = DAY_START.isoformat()
            report["os"]["boot_time"] = (DAY_START - dt.timedelta(minutes=5)).isoformat()
            report["wlan"] = {"interfaces": [{"name": "wlan0", "connected": True,
                                              "ssid": "Schulnetz", "security": "wpa2-enterprise",
                                              "signal_dbm": -60, "rate_mbps": 144.4}]}  # fmt: skip
            report["patches"]["last_refresh"] = DAY_START.isoformat()
            report = dump(report)
            self.machines.append(report)
            self.send(index, report, SECTIONS)

    def status_report(self, index: int, step: int, update: bool) -> None:
        report = json.loads(json.dumps(self.machines[index]))
        when = DAY_START + dt.timedelta(minutes=15 * step)
        report["report_id"] = str(uuid.uuid4())
        report["collected_at"] = when.isoformat()
        report["hardware"]["volumes"][0]["free_bytes"] = self.rng.randint(1 << 30, 100 << 30)
        report["wlan"]["interfaces"][0]["signal_dbm"] = self.rng.randint(-80, -45)
        report["wlan"]["interfaces"][0]["rate_mbps"] = self.rng.choice((72.2, 144.4, 300.0))
        boot = DAY_START - dt.timedelta(minutes=5, seconds=self.rng.randint(0, 1))
        report["os"]["boot_time"] = boot.isoformat()
        if step % 24 == 0:
            report["patches"]["last_refresh"] = when.isoformat()
        collected: tuple[str, ...] = STATUS_SECTIONS
        if update:
            package = report["software"][self.rng.randrange(len(report["software"]))]
            old, package["version"] = package["version"], package["version"] + "+deb12u1"
            self.updates.append((index, package["name"], old, package["version"]))
            collected = SECTIONS  # the full inventory job noticed it
        report = dump(report)
        self.machines[index] = report
        self.send(index, report, collected)


def sizes(db: Database) -> dict[str, int]:
    """Bytes in use per table (its indexes included)."""
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            rows = conn.execute(sa.text(
                "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat s "
                "LEFT JOIN sqlite_master m ON m.name = s.name GROUP BY 1"
            )).all()  # fmt: skip
            return {name: int(size) for name, size in rows}
        rows = conn.execute(sa.text(
            "SELECT coalesce(parent.relname, c.relname), sum(pg_total_relation_size(c.oid)) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
            "LEFT JOIN pg_class parent ON parent.oid = i.inhparent "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' GROUP BY 1"
        )).all()  # fmt: skip
        return {name: int(size) for name, size in rows}


def vacuum(db: Database) -> None:
    if db.is_sqlite:
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM"))


def run(name: str, url: str, hosts: int) -> bool:
    db = Database(url)
    db.upgrade()
    rng = random.Random(16)
    fleet = Fleet(db, hosts, rng)
    started = time.perf_counter()
    fleet.full_inventories()
    vacuum(db)
    before = sizes(db)
    updated = set(rng.sample(range(hosts), max(1, hosts // 100)))
    update_step = {i: rng.randint(1, 95) for i in updated}
    for step in range(1, 97):  # every 15 minutes for 24 hours
        for index in range(hosts):
            fleet.status_report(index, step, update_step.get(index) == step)
        if step % 4 == 0:
            vacuum(db)
    after = sizes(db)
    seconds = time.perf_counter() - started
    reports = hosts * 97
    grown = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    total = sum(grown.values())
    print(f"{name}: {hosts} hosts (standing for {TOWN}: factor {TOWN / hosts:g}), "
          f"{reports} reports in {seconds:.0f} s")  # fmt: skip
    print(f"  current state after the first inventories: {sum(before.values()) / hosts / 1024:.1f}"
          " KB per host")  # fmt: skip
    print(f"  database growth during the day: {total / hosts / 1024:.2f} KB per host and day"
          + (" (goal <= 5 KB on SQLite)" if db.is_sqlite else ""))  # fmt: skip
    for group, tables in GROUPS.items():
        part = sum(grown.get(t, 0) for t in tables)
        print(f"    {group}: {part / hosts / 1024:.2f} KB per host and day")
    rest = total - sum(grown.get(t, 0) for tables in GROUPS.values() for t in tables)
    print(f"    the current state's tables (rewritten, not grown by history): "
          f"{rest / hosts / 1024:.2f} KB per host")  # fmt: skip
    ok = check_change_log(db, fleet)
    db.dispose()
    return ok


def check_change_log(db: Database, fleet: Fleet) -> bool:
    """Every package update of the day is in the change log, with both versions."""
    missing = []
    with db.engine.connect() as conn:
        for index, package, old, new in fleet.updates:
            _total, rows = history.host_changes(conn, fleet.host_ids[index], limit=100, offset=0)
            found = {(r.section, r.action, r.item, r.field, r.old, r.new) for r in rows}
            if ("software", "changed", package, "version", old, new) not in found:
                missing.append(package)
    print(f"  change log: {len(fleet.updates) - len(missing)} of {len(fleet.updates)} package "
          f"updates listed" + (f"; MISSING {missing}" if missing else ""))  # fmt: skip
    return not missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    ok = True
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="inventar-history-") as tmp:
            ok &= run("SQLite", f"sqlite:///{Path(tmp) / 'town.db'}", args.hosts)
    if not args.no_postgres:
        url = postgres_url()
        if url:
            try:
                ok &= run("PostgreSQL", url, args.hosts)
            finally:
                drop_schema(url)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
