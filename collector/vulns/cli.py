"""`inventar-collector vulns import | match | feeds`: known vulnerabilities.

``import`` reads a feed from a file copied in or a URL and re-matches the hosts (only those
whose inputs or package feeds changed; KEV and EPSS need no re-match), then re-evaluates
their findings. ``match`` re-matches hosts whose packages changed since (the collector's
periodic job does the same). ``feeds`` lists the imported feeds and their age.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
from typing import Any

from collector.cli_database import add_database_option, database_from
from collector.db import Database
from collector.findings import evaluate_imported
from collector.vulns.feeds import FEEDS, FeedError
from collector.vulns.importer import feed_states, import_feed
from collector.vulns.matching import MatchStats, matched_host_ids, rematch


def register(subparsers: Any) -> argparse.ArgumentParser:
    vulns: argparse.ArgumentParser = subparsers.add_parser(
        "vulns", help="known vulnerabilities: import feeds, match hosts"
    )
    sub = vulns.add_subparsers(dest="vulns_command", required=True)
    p = sub.add_parser("import", help="import a feed from a FILE, directory or URL")
    add_database_option(p)
    p.add_argument("source", nargs="+", metavar="FILE|URL")
    p.add_argument("--feed", choices=FEEDS, help="the feed (default: recognized by content)")
    p.add_argument("--no-match", action="store_true", help="import only; match later")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("match", help="match hosts whose packages or feeds changed")
    add_database_option(p)
    p.add_argument("--all", action="store_true", help="match every host again")
    p.set_defaults(func=cmd_match)
    p = sub.add_parser("feeds", help="the imported feeds and their age")
    add_database_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feeds)
    return vulns


def _match(db: Database, *, force: bool = False, kev: bool = False) -> MatchStats:
    stats = rematch(db, force=force)
    # A new KEV catalogue changes no match but the KEV check of every matched host.
    evaluate_imported(db, matched_host_ids(db) if kev else stats.matched_ids)
    print(
        f"matched {stats.hosts_matched} of {stats.hosts_considered} hosts "
        f"({stats.package_versions} package versions): {stats.rows} vulnerabilities"
    )
    return stats


def cmd_import(args: argparse.Namespace) -> int:
    db = database_from(args)
    failed = 0
    imported: set[str] = set()
    for source in args.source:
        try:
            done = import_feed(db, source, args.feed)
        except (FeedError, OSError, urllib.error.URLError) as exc:
            print(f"inventar-collector: {source}: {exc}", file=sys.stderr)
            failed += 1
            continue
        imported.add(done.feed)
        date = done.feed_date.isoformat() if done.feed_date else "none stated"
        print(
            f"{source}: {done.feed} feed, {done.records} records, "
            f"sha256 {done.sha256}, feed date {date}"
        )
    if not args.no_match and failed < len(args.source):
        _match(db, kev="kev" in imported)
    return 1 if failed else 0


def cmd_match(args: argparse.Namespace) -> int:
    _match(database_from(args), force=args.all)
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    db = database_from(args)
    with db.engine.connect() as conn:
        states = feed_states(conn)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        **s.__dict__,
                        "feed_date": s.feed_date and s.feed_date.isoformat(),
                        "imported_at": s.imported_at.isoformat(),
                    }
                    for s in states
                ],
                indent=2,
            )
        )
        return 0
    for s in states:
        days = s.age_seconds / 86400
        warn = "  STALE (older than 7 days)" if s.stale else ""
        print(f"{s.feed:7} {s.records:>8} records  {days:6.1f} days old  {s.source}{warn}")
    if not states:
        print("no feed imported (inventar-collector vulns import FILE|URL)")
    return 0
