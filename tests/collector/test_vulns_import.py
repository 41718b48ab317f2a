"""Importing feeds the two ways a collector gets them: a file copied in (the CLI) and a URL
(the collector's own job, here from a real HTTP server on 127.0.0.1 serving the corpus)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector.cli import main
from collector.db import Database
from collector.models import VulnFeed, table_of
from collector.vulns.job import VulnJob

VULNS = Path(__file__).parents[3] / "shared" / "corpus" / "vulns"


@pytest.fixture
def served() -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(VULNS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_job_imports_configured_urls_and_a_failing_one_costs_nothing_else(
    served: str, tmp_path: Path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    db.upgrade()
    urls = [f"{served}/kev/known_exploited_vulnerabilities.json", f"{served}/no-such-feed.json",
            f"{served}/debian-tracker/debian.json"]  # fmt: skip
    VulnJob(db, 300, urls).round()
    with db.engine.connect() as conn:
        feeds = {r.feed: r for r in conn.execute(sa.select(table_of(VulnFeed)))}
    assert set(feeds) == {"kev", "debian"}
    assert feeds["kev"].source == urls[0] and feeds["kev"].records == 1404
    db.dispose()


def test_the_cli_imports_files_lists_feeds_and_refuses_what_is_no_feed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    rc = main(["vulns", "import", "--database-url", url, str(VULNS / "epss" / "example-1.csv"),
               str(VULNS / "ubuntu-osv")])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "epss feed, 5 records" in out and "feed date 2025-02-20T00:00:00+00:00" in out
    assert "ubuntu feed" in out and "matched 0 of 0 hosts" in out
    bad = tmp_path / "not-a-feed.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["vulns", "import", "--database-url", url, str(bad)]) == 1
    assert "not-a-feed.csv" in capsys.readouterr().err
    assert main(["vulns", "import", "--database-url", url, str(tmp_path / "missing.json")]) == 1
    assert main(["vulns", "feeds", "--database-url", url, "--json"]) == 0
    feeds = {f["feed"]: f for f in json.loads(capsys.readouterr().out)}
    assert set(feeds) == {"epss", "ubuntu"}
    assert feeds["epss"]["stale"] is True
