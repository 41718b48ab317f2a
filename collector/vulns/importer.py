"""``vulns import FILE|URL``: read a feed (a file copied in, a directory of OSV records, or a
URL where the collector has internet), parse it (collector.vulns.feeds) and replace that
feed's rows; the import records the source, the data's sha256 and the feed's own date.

Feeds are only ever read here: matching (collector.vulns.matching) never fetches anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from collector.db import Database
from collector.models import (
    VulnEpss,
    VulnFeed,
    VulnHostPackage,
    VulnKev,
    VulnPackageAdvisory,
    VulnPackageResult,
    VulnSupersedence,
    VulnWindowsFix,
    table_of,
    utcnow,
)
from collector.vuln_rows import refresh_levels
from collector.vulns.feeds import FeedError, Parsed, parse, parse_files

_FEEDS = table_of(VulnFeed)
_ADVISORIES = table_of(VulnPackageAdvisory)
_RESULTS = table_of(VulnPackageResult)
_FIXES = table_of(VulnWindowsFix)
_SUPERSEDENCE = table_of(VulnSupersedence)
_KEV = table_of(VulnKev)
_EPSS = table_of(VulnEpss)
FETCH_TIMEOUT_S = 120
MAX_FEED_BYTES = 1 << 30  # the full Debian tracker JSON is ~70 MiB, wesng's zip ~4 MiB
_BATCH = 20_000
# A feed older than this is warned about (web UI, API) and shows in the metric.
STALE_AFTER = dt.timedelta(days=7)


@dataclass(frozen=True)
class Imported:
    feed: str
    records: int
    sha256: str
    feed_date: dt.datetime | None


def read_source(source: str) -> tuple[bytes | list[tuple[str, bytes]], str]:
    """The bytes of a file or URL, or a directory's JSON files; and their sha256 (of a
    directory: over its files' names and contents, in name order)."""
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source, headers={"User-Agent": "inventar-collector"})
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
            data: bytes = response.read(MAX_FEED_BYTES + 1)
        if len(data) > MAX_FEED_BYTES:
            raise FeedError(f"{source}: larger than {MAX_FEED_BYTES} bytes")
        return data, hashlib.sha256(data).hexdigest()
    path = Path(source)
    if path.is_dir():
        files = [(p.name, p.read_bytes()) for p in sorted(path.glob("*.json"))]
        if not files:
            raise FeedError(f"{source}: a directory without *.json (OSV records)")
        digest = hashlib.sha256()
        for name, data in files:
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return files, digest.hexdigest()
    if not path.is_file():
        raise FeedError(f"{source}: no such file or directory")
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def import_feed(db: Database, source: str, feed: str | None = None) -> Imported:
    """Import one feed; its previous rows are replaced in one transaction."""
    content, sha256 = read_source(source)
    if isinstance(content, list):
        parsed = parse_files(content, feed)
    else:
        parsed = parse(content, Path(source).name, feed)
    store(db, parsed, source, sha256)
    return Imported(parsed.feed, len(parsed.rows), sha256, parsed.feed_date)


def store(db: Database, parsed: Parsed, source: str, sha256: str) -> None:
    with db.write_session() as session:
        conn = session.connection()
        if parsed.feed in ("debian", "ubuntu"):
            conn.execute(sa.delete(_ADVISORIES).where(_ADVISORIES.c.feed == parsed.feed))
            # The verdicts per package version came from the advisories being replaced.
            conn.execute(sa.delete(_RESULTS))
            conn.execute(sa.delete(table_of(VulnHostPackage)))
            _insert(conn, _ADVISORIES, parsed.rows)
        elif parsed.feed == "msrc":
            conn.execute(sa.delete(_FIXES))
            conn.execute(sa.delete(_SUPERSEDENCE))
            _insert(conn, _FIXES, parsed.rows)
            _insert(
                conn,
                _SUPERSEDENCE,
                [{"kb": kb, "superseded": old} for kb, old in sorted(parsed.supersedence)],
            )
        elif parsed.feed == "kev":
            conn.execute(sa.delete(_KEV))
            _insert(conn, _KEV, parsed.rows)
        else:
            conn.execute(sa.delete(_EPSS))
            _insert(conn, _EPSS, parsed.rows)
        if parsed.feed in ("debian", "ubuntu", "kev"):
            # Verdicts gone or KEV changed: every host's severities/KEV pairs (the metric).
            refresh_levels(conn)
        conn.execute(sa.delete(_FEEDS).where(_FEEDS.c.feed == parsed.feed))
        conn.execute(
            sa.insert(_FEEDS).values(
                feed=parsed.feed,
                source=source[:2048],
                sha256=sha256,
                feed_date=parsed.feed_date,
                imported_at=utcnow(),
                records=len(parsed.rows),
            )
        )
        session.commit()


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    statement = sa.insert(table)
    for start in range(0, len(rows), _BATCH):
        conn.execute(statement, rows[start : start + _BATCH])


@dataclass(frozen=True)
class FeedState:
    feed: str
    source: str
    sha256: str
    feed_date: dt.datetime | None
    imported_at: dt.datetime
    records: int
    age_seconds: float
    stale: bool


def feed_states(conn: sa.Connection, now: dt.datetime | None = None) -> list[FeedState]:
    """Each imported feed and its age: from the feed's own date, else from its import."""
    now = now or utcnow()
    out = []
    for row in conn.execute(sa.select(_FEEDS).order_by(_FEEDS.c.feed)):
        age = now - (row.feed_date or row.imported_at)
        out.append(
            FeedState(
                row.feed,
                row.source,
                row.sha256,
                row.feed_date,
                row.imported_at,
                row.records,
                max(age.total_seconds(), 0.0),
                age > STALE_AFTER,
            )
        )
    return out
