"""Prometheus metrics: the catalogue (:mod:`.catalogue`), the inventory computed at scrape
time (:mod:`.inventory`), and this process's own instruments (reports received, ingest
latency, decode workers, jobs run), all in one registry per app. Who may read them is
collector.security's and collector.api.deps' concern.

Two endpoints, so that several replicas are not counted several times: ``/metrics`` has
only this process's series (Prometheus scrapes every replica), ``/metrics/inventory`` the
fleet's figures, the same on every replica (scraped once, through the load balancer; the
Prometheus exporter guide's advice for such "business" metrics).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collector.db import Database
from collector.decode_pool import DecodePool
from collector.metrics.catalogue import (
    CATALOGUE,
    INGEST_BUCKETS,
    RESULTS,
    SPECS,
    catalogue_markdown,
    size_class,
)
from collector.metrics.inventory import InventoryCollector
from collector.security import FLEET, MetricsScope

__all__ = ["CATALOGUE", "SPECS", "Metrics", "catalogue_markdown", "size_class"]


class DecodePoolCollector(Collector):
    """The decode pool's state, read at scrape time (no pool: none running, none ended)."""

    def __init__(self, pool: DecodePool | None) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        running = self.pool.running if self.pool is not None else 0
        exits = self.pool.exits if self.pool is not None else 0
        yield GaugeMetricFamily(
            "inventar_decode_workers", SPECS["inventar_decode_workers"].help, value=running
        )
        yield CounterMetricFamily(
            "inventar_decode_worker_exits",
            SPECS["inventar_decode_worker_exits_total"].help,
            value=exits,
        )


class JobsCollector(Collector):
    """Rounds of scheduled jobs this process ran (collector.jobs.JOBS_RUN)."""

    def collect(self) -> Iterator[Metric]:
        from collector.jobs import JOBS_RUN  # noqa: PLC0415

        family = CounterMetricFamily(
            "inventar_jobs_run", SPECS["inventar_jobs_run_total"].help, labels=["task"]
        )
        for task in sorted(set(JOBS_RUN) | set(TASKS)):
            family.add_metric([task], JOBS_RUN.get(task, 0))
        yield family


# Every task's counter is exported from the start (also 0), so rate() sees its first round.
TASKS = ("findings-maintenance", "retention")


class Metrics:
    """The app's own registry (one per app, so several apps in one process do not clash)."""

    def __init__(
        self,
        db: Database,
        cache_seconds: float = 0.0,
        pool: DecodePool | None = None,
        *,
        host_limit: int | None = None,
    ) -> None:
        # No *_created series: they would double the counters' cardinality.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.reports = Counter(
            "inventar_reports_received",
            SPECS["inventar_reports_received_total"].help,
            ["result"],
            registry=self.registry,
        )
        for result in RESULTS:
            self.reports.labels(result)
        self.ingest_seconds = Histogram(
            "inventar_report_ingest_seconds",
            SPECS["inventar_report_ingest_seconds"].help,
            buckets=INGEST_BUCKETS,
            registry=self.registry,
        )
        self.decode_pool = DecodePoolCollector(pool)
        self.registry.register(self.decode_pool)
        self.jobs = JobsCollector()
        self.registry.register(self.jobs)
        self.inventory = InventoryCollector(db, cache_seconds, host_limit=host_limit)
        self.registry.register(self.inventory)

    def render(self, scope: MetricsScope = FLEET) -> bytes:
        """The exposition of the whole :attr:`registry` (text format 0.0.4): both endpoints'
        series (tests compare it with ``generate_latest``)."""
        own = self.render_process() if scope.org_id is None else b""
        return own + self.render_inventory(scope)

    def render_inventory(self, scope: MetricsScope = FLEET) -> bytes:
        """``/metrics/inventory``: the fleet's families, rendered by :meth:`Family.render`
        (what ``generate_latest`` would give, faster). An organization's scope gets its own
        series only."""
        out: list[str] = []
        escaped: dict[str, str] = {}
        for family in self.inventory.snapshot(scope):
            family.render(out, escaped)
        return "".join(out).encode()

    def render_process(self) -> bytes:
        """``/metrics``: this process's own instruments."""
        own = _Instruments([self.reports, self.ingest_seconds, self.decode_pool, self.jobs])
        return generate_latest(own)


class _Instruments:
    """The process's own instruments as a registry-like object for ``generate_latest``."""

    def __init__(self, instruments: Sequence[Counter | Histogram | Collector]) -> None:
        self.instruments = instruments

    def collect(self) -> Iterator[Metric]:
        for instrument in self.instruments:
            yield from instrument.collect()
