"""How long migration 0014_history takes on a database of 20,000 hosts and their history.

Builds a SQLite database at revision 0007_current_state as the collector before it left
it: 20,000 hosts, each with --reports raw reports in ``reports`` (~300 packages each, as
benchmarks/ingest.py; every other one with changed free space, some with a package
updated; the latest also in ``host_sections``), then times ``upgrade`` to 0014_history:
the conversion of the raw reports into history rows, change log and receipts. Prints the
time, the reports converted per second, and the file size before and after (the raw
reports' pages are free for reuse after the upgrade; VACUUM gives them back to the disk).

    .venv/bin/python -m benchmarks.migration_history [--hosts 20000] [--reports 5]
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

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ingest import make_report
from collector.db import Database, upgrade


def build(db: Database, hosts: int, reports: int) -> None:
    upgrade(db.engine, "0006_credential_lifecycle")
    rng = random.Random(8)
    now = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        # (the migrations made the organization "default", id 1)
        conn.execute(sa.text("INSERT INTO sites (id, name, kind, org_id, created_at) "
                             "VALUES (1, 's', 'school', 1, :t)"), {"t": now})  # fmt: skip
    for first in range(0, hosts, 500):
        host_rows, report_rows = [], []
        for i in range(first, min(first + 500, hosts)):
            machine_id = uuid.uuid5(uuid.NAMESPACE_DNS, f"mig-{i}").hex
            software = [{"name": f"package-{rng.randint(0, 5000)}-{k}", "version": f"{k}.0",
                         "publisher": "Debian"} for k in range(300)]  # fmt: skip
            last = None
            for n in range(reports):
                report = make_report(machine_id, n, software)
                collected = now - dt.timedelta(days=reports - n)
                report["collected_at"] = collected.isoformat()
                if n % 3 == 2:
                    software[n % 300]["version"] += ".1"
                last = report["report_id"]
                report_rows.append(
                    {"report_id": report["report_id"], "host_id": i + 1, "schema_version": 1,
                     "collected_at": collected, "received_at": collected, "source": "agent",
                     "size_bytes": 0, "changed_sections": "[]", "raw": json.dumps(report)}
                )  # fmt: skip
            host_rows.append(
                {"id": i + 1, "org_id": 1, "site_id": 1, "machine_id": machine_id,
                 "first_seen": now, "last_seen": now, "last_report_id": last,
                 "last_collected_at": now - dt.timedelta(days=1), "section_hashes": "{}"}
            )  # fmt: skip
        with db.engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO hosts (id, org_id, site_id, machine_id, first_seen, "
                        "last_seen, last_report_id, last_collected_at, section_hashes) VALUES "
                        "(:id, :org_id, :site_id, :machine_id, :first_seen, :last_seen, "
                        ":last_report_id, :last_collected_at, :section_hashes)"),
                host_rows,
            )  # fmt: skip
            conn.execute(
                sa.text("INSERT INTO reports (report_id, host_id, schema_version, collected_at, "
                        "received_at, source, size_bytes, changed_sections, raw) VALUES "
                        "(:report_id, :host_id, :schema_version, :collected_at, :received_at, "
                        ":source, :size_bytes, :changed_sections, :raw)"),
                report_rows,
            )  # fmt: skip
    upgrade(db.engine, "0007_current_state")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--reports", type=int, default=5, help="raw reports per host")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inventar-migration-") as tmp:
        path = Path(tmp) / "old.db"
        db = Database(f"sqlite:///{path}")
        started = time.perf_counter()
        build(db, args.hosts, args.reports)
        size = path.stat().st_size / 2**20
        print(f"built {args.hosts} hosts with {args.reports} raw reports each in "
              f"{time.perf_counter() - started:.0f} s; file {size:.0f} MiB")  # fmt: skip
        upgrade(db.engine, "0013_policy_check_state")  # the migrations before it: not timed
        started = time.perf_counter()
        upgrade(db.engine, "0014_history")
        took = time.perf_counter() - started
        total = args.hosts * args.reports
        with db.engine.connect() as conn:
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                      for t in ("host_history", "host_changes", "report_receipts")}  # fmt: skip
        print(f"0013 -> 0014_history on SQLite: {took:.0f} s ({took / 60:.1f} min) for "
              f"{total} reports, {total / took:.0f} reports/s; rows: {counts}")  # fmt: skip
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM"))
        print(f"file after VACUUM: {path.stat().st_size / 2**20:.0f} MiB")
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
