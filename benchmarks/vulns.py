"""Known vulnerabilities: importing MSRC's full data and re-matching a large fleet.

1. Import: wesng's definitions.zip from ../shared/corpus/vulns/wesng (the real file: about
   600,000 CSV rows, 231,000 Windows product/CVE/KB rows and 6,000 supersedence pairs after
   parsing) through ``collector.vulns.importer.import_feed`` into a fresh SQLite database.
   Goal: <= 60 s.
2. Re-match: a synthetic fleet of 20,000 Debian 12 hosts with 800 source packages each
   (16 million software rows, written straight into the tables, not timed), against a
   synthetic tracker of 2,000 advised source packages (6,000 CVEs: resolved with a
   +deb12u1 fix, some open), each host's versions drawn from three per package (the fix,
   one before, one after). Timed: ``rematch(force=True)``, what a new package feed costs
   (every host); then one host's package list changes and ``rematch()`` matches only it
   (the digest check over all hosts included). Goal: <= 30 s for the full re-match.
3. Reads: one host's list; the fleet grouped by fixing update and the metric's host counts,
   the first time after a match (goal <= 2 s each: a Prometheus scrape times out after
   10 s); and what a KEV import adds to refresh every host's (severity, KEV) pairs.

Prints wall time and this process's CPU time (the machine is shared: the load average is
printed beside). SQLite only (the collector's embedded default).

    .venv/bin/python -m benchmarks.vulns [--hosts 20000] [--packages 800] [--skip-import]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.db import Database  # noqa: E402
from collector.models import Host, SoftwareRow, VulnPackageResult, table_of, utcnow  # noqa: E402
from collector.queries.vulns import fleet_vulns, host_vulns, vulnerable_host_counts  # noqa: E402
from collector.services import add_site  # noqa: E402
from collector.vuln_rows import host_vuln_rows, refresh_levels  # noqa: E402
from collector.vulns.feeds import Parsed  # noqa: E402
from collector.vulns.importer import import_feed, store  # noqa: E402
from collector.vulns.matching import rematch  # noqa: E402

WESNG = ROOT.parent / "shared" / "corpus" / "vulns" / "wesng" / "definitions.zip"
SOURCES = 4000  # the fleet's distinct source packages
ADVISED = 2000  # of them with tracker entries


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (2 cores, shared)"


def _timed(label: str, run: Any) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU; {_load()}")
    return result


def bench_import(directory: Path) -> None:
    db = Database(f"sqlite:///{directory / 'import.db'}")
    db.upgrade()
    done = _timed(
        "import wesng definitions.zip (goal <= 60 s)", lambda: import_feed(db, str(WESNG))
    )
    print(f"  {done.records} product/CVE/KB rows, feed date {done.feed_date}")
    db.dispose()


def _tracker(rng: random.Random) -> Parsed:
    rows = []
    for i in range(ADVISED):
        for n in range(3):
            cve = f"CVE-2026-{i * 3 + n + 10000}"
            is_open = n == 2 and i % 10 == 0
            rows.append({"feed": "debian", "release": "bookworm", "package": f"src{i}", "cve": cve,
                         "status": "open" if is_open else "resolved",
                         "fixed_version": None if is_open else f"1.{i}-1+deb12u1", "pro": False,
                         "severity": rng.choice(["low", "medium", "high", None])})  # fmt: skip
    return Parsed("debian", None, rows)


def bench_rematch(directory: Path, hosts: int, packages: int) -> None:
    rng = random.Random(24)
    db = Database(f"sqlite:///{directory / 'fleet.db'}")
    db.upgrade()
    with db.session() as s:
        site = add_site(s, "Bench", "school")
        site_id, org_id = site.id, site.org_id
    h, sw = table_of(Host), table_of(SoftwareRow)
    started = time.perf_counter()
    versions = ("1.{i}-1", "1.{i}-1+deb12u1", "1.{i}-1+deb12u2")
    with db.engine.begin() as conn:
        now = utcnow()
        conn.execute(sa.insert(h), [
            {"org_id": org_id, "site_id": site_id, "machine_id": f"bench-{n}", "os_family": "linux",
             "os_codename": "bookworm", "first_seen": now, "last_seen": now,
             "section_hashes": {"software": hashlib.sha256(str(n).encode()).hexdigest()},
             "stable_hashes": {}}
            for n in range(hosts)
        ])  # fmt: skip
        ids = [row[0] for row in conn.execute(sa.select(h.c.id).order_by(h.c.id))]
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        for host_id in ids:
            first = rng.randrange(SOURCES)
            cursor.executemany(
                "INSERT INTO software (host_id, name, version, source, source_version) "
                "VALUES (?, ?, ?, ?, ?)",
                [(host_id, f"bin{i}", v, f"src{i}", v)
                 for i in ((first + k) % SOURCES for k in range(packages))
                 for v in (rng.choice(versions).format(i=i),)],
            )  # fmt: skip
    print(f"fleet written: {hosts} hosts x {packages} packages in "
          f"{time.perf_counter() - started:.0f} s (not timed)")  # fmt: skip
    store(db, _tracker(rng), "synthetic tracker", "0" * 64)
    stats = _timed(f"re-match all {hosts} hosts (a new feed; goal <= 30 s)",
                   lambda: rematch(db, force=True))  # fmt: skip
    with db.engine.connect() as conn:
        res = table_of(VulnPackageResult)
        verdicts = conn.execute(sa.select(sa.func.count()).select_from(res)).scalar()
        some = conn.execute(sa.select(sa.func.count()).select_from(host_vuln_rows(ids[:20])))
        per_host = (some.scalar() or 0) / 20
    matched, versions = stats.hosts_matched, stats.package_versions
    print(
        f"  {matched} hosts, {versions} distinct package versions, {verdicts} verdict rows "
        f"stored; {per_host:.0f} vulnerabilities per host (joined when read)"
    )
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(sw)
            .where(sw.c.host_id == ids[0], sw.c.source == "src1")
            .values(source_version="1.1-1+deb12u2")
        )
        changed = {"software": "changed"}
        conn.execute(sa.update(h).where(h.c.id == ids[0]).values(section_hashes=changed))
    stats = _timed("re-match after one host's package list changed", lambda: rematch(db))
    print(f"  {stats.hosts_matched} of {stats.hosts_considered} hosts matched")
    # What reading costs (packages are joined to their verdicts when read).
    with db.engine.connect() as conn:
        _timed("read one host's list (host page, API)", lambda: host_vulns(conn, ids[-1]))
        _timed(
            "read the fleet grouped by fixing update (fleet page, API)",
            lambda: fleet_vulns(conn, None, limit=100),
        )
        _timed(
            "vulnerable hosts by site, severity, KEV (metrics)",
            lambda: vulnerable_host_counts(conn),
        )
        _timed(
            "the same two again, nothing matched or imported since (cached per process)",
            lambda: (fleet_vulns(conn, None, limit=100), vulnerable_host_counts(conn)),
        )
    with db.engine.begin() as conn:
        _timed(
            "every host's (severity, KEV) rewritten, what a KEV import adds (not at scrape)",
            lambda: refresh_levels(conn),
        )
    db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--packages", type=int, default=800)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-rematch", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inventar-vulns-") as tmp:
        if not args.skip_import:
            bench_import(Path(tmp))
        if not args.skip_rematch:
            bench_rematch(Path(tmp), args.hosts, args.packages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
