"""Prometheus metrics: a collector computing inventory gauges from the database at scrape time.

Catalogue (names are part of the interface, see design.md "Metrics"):

- ``inventar_hosts{site,site_kind}``: hosts per site (every site, also with 0 hosts)
- ``inventar_host_last_seen_timestamp_seconds{host,site}``: when a host last reported
- ``inventar_reports_received_total{result}``: reports received, by result (stored,
  duplicate, rejected, unauthorized, error)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlmodel import col

from collector.db import Database
from collector.models import Host, Site

log = logging.getLogger(__name__)

RESULTS = ("stored", "duplicate", "rejected", "unauthorized", "error")


class InventoryCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily("inventar_hosts", "", labels=["site", "site_kind"]),
            GaugeMetricFamily(
                "inventar_host_last_seen_timestamp_seconds", "", labels=["host", "site"]
            ),
        ]

    def collect(self) -> Iterator[Metric]:
        hosts = GaugeMetricFamily(
            "inventar_hosts", "Hosts known to the collector, by site.", labels=["site", "site_kind"]
        )
        last_seen = GaugeMetricFamily(
            "inventar_host_last_seen_timestamp_seconds",
            "When the host's last report was received (Unix time).",
            labels=["host", "site"],
        )
        try:
            with self.db.engine.connect() as conn:
                counts = conn.execute(
                    sa.text(
                        "SELECT s.name, s.kind, COUNT(h.id) FROM sites s "
                        "LEFT JOIN hosts h ON h.site_id = s.id GROUP BY s.id, s.name, s.kind"
                    )
                ).all()
                seen = conn.execute(
                    sa.select(
                        col(Host.hostname),
                        col(Host.machine_id),
                        col(Host.last_seen),
                        col(Site.name),
                    ).join(Site, col(Site.id) == col(Host.site_id))
                ).all()
        except sa.exc.SQLAlchemyError:
            log.exception("metrics: database query failed")
            return
        for name, kind, n in counts:
            hosts.add_metric([name, kind], float(n))
        for hostname, machine_id, ts, site in seen:
            last_seen.add_metric([hostname or machine_id, site], ts.timestamp())
        yield hosts
        yield last_seen


class Metrics:
    """The app's own registry (one per app, so several apps in one process do not clash)."""

    def __init__(self, db: Database) -> None:
        # No *_created series: they would double the counters' cardinality.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.reports = Counter(
            "inventar_reports_received",
            "Reports received by the collector, by result.",
            ["result"],
            registry=self.registry,
        )
        for result in RESULTS:
            self.reports.labels(result)
        self.registry.register(InventoryCollector(db))
