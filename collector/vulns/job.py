"""The collector's background job for known vulnerabilities: every few minutes it matches
the hosts whose packages, release or updates changed (a cheap digest comparison for the
others) and queues their findings; where feed URLs are configured, it imports them once a
day first. A failing download is logged and retried next round; the feeds already imported
stay in use (their age shows in the web UI, the API and the metric)."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
from collections.abc import Sequence

from collector.db import Database
from collector.findings import notify
from collector.vulns.feeds import FeedError
from collector.vulns.importer import import_feed
from collector.vulns.matching import matched_host_ids, rematch

log = logging.getLogger(__name__)


class VulnJob:
    def __init__(
        self,
        db: Database,
        interval_s: float,
        urls: Sequence[str] = (),
        feed_interval_s: float = 86400.0,
    ) -> None:
        self.db, self.interval_s = db, interval_s
        self.urls, self.feed_interval_s = list(urls), feed_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inventar-vulns", daemon=True)
        self._last_fetch: float | None = None

    def start(self) -> VulnJob:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def round(self) -> None:
        now = time.monotonic()
        kev = False
        if self.urls and (
            self._last_fetch is None or now - self._last_fetch >= self.feed_interval_s
        ):
            self._last_fetch = now
            for url in self.urls:
                try:
                    done = import_feed(self.db, url)
                    kev = kev or done.feed == "kev"
                    log.info("imported %s feed from %s: %d records", done.feed, url, done.records)
                except (FeedError, OSError, urllib.error.URLError) as exc:
                    log.warning("vulnerability feed %s not imported: %s", url, exc)
        stats = rematch(self.db)
        # A new KEV catalogue changes no match but the KEV check of every matched host.
        for host_id in matched_host_ids(self.db) if kev else stats.matched_ids:
            notify(self.db, host_id)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.round()
            except Exception:  # one failed round must not end the job
                log.exception("vulnerability matching failed; retrying next round")
