"""The collector's background jobs for known vulnerabilities: every few minutes the hosts
whose packages, release or updates changed are matched (a cheap digest comparison for the
others) and their findings queued; where feed URLs are configured, they are imported once a
day. A failing download is logged and retried next round; the feeds already imported
stay in use (their age shows in the web UI, the API and the metric)."""

from __future__ import annotations

import logging
import urllib.error
from collections.abc import Sequence

from collector import jobs
from collector.db import Database
from collector.findings import notify
from collector.vulns.feeds import FeedError
from collector.vulns.importer import import_feed
from collector.vulns.matching import matched_host_ids, rematch

log = logging.getLogger(__name__)


class VulnJob:
    """Two jobs of collector.jobs, each tick once across replicas: "vulns-feeds" imports the
    configured URLs once per feed interval (only with URLs), "vulns-match" re-matches the
    changed hosts every interval."""

    def __init__(
        self,
        db: Database,
        interval_s: float,
        urls: Sequence[str] = (),
        feed_interval_s: float = 86400.0,
    ) -> None:
        self.db, self.interval_s = db, interval_s
        self.urls, self.feed_interval_s = list(urls), feed_interval_s
        match = jobs.PeriodicJob(
            db, "vulns-match", self.match, interval=interval_s, first_delay=interval_s
        )
        self._jobs = [match]
        if self.urls:
            # The first import soon after the start, not a day later.
            feeds = jobs.PeriodicJob(
                db, "vulns-feeds", self.import_feeds, interval=feed_interval_s, first_delay=5.0
            )
            self._jobs.append(feeds)

    def start(self) -> VulnJob:
        for job in self._jobs:
            job.start()
        return self

    def stop(self) -> None:
        for job in self._jobs:
            job.stop(timeout=30)

    def round(self) -> None:
        """Both at once (tests, and by hand)."""
        self.import_feeds()

    def import_feeds(self) -> None:
        """Imports every configured URL; a failing one is logged and retried next tick, the
        feeds already imported stay in use. Then matches."""
        kev = False
        for url in self.urls:
            try:
                done = import_feed(self.db, url)
                kev = kev or done.feed == "kev"
                log.info("imported %s feed from %s: %d records", done.feed, url, done.records)
            except (FeedError, OSError, urllib.error.URLError) as exc:
                log.warning("vulnerability feed %s not imported: %s", url, exc)
        self.match(kev=kev)

    def match(self, *, kev: bool = False) -> None:
        stats = rematch(self.db)
        # A new KEV catalogue changes no match but the KEV check of every matched host.
        for host_id in matched_host_ids(self.db) if kev else stats.matched_ids:
            notify(self.db, host_id)
