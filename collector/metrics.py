"""Prometheus metrics: a custom collector computing the inventory from the database at scrape
time (never stale global gauges: a removed host's series disappear with the next scrape).

Names are part of the interface (design.md "Metrics"). :data:`CATALOGUE` lists every metric
this module exports with its type, help and labels; the tests hold the live exposition, the
alert rules (deploy/prometheus) and the Grafana dashboards (deploy/grafana) against it, and
the README's metrics table is :func:`catalogue_markdown`.

Scrape cost: the inventory is a handful of aggregate queries plus one query over ``hosts``.
Facts that only the stored report holds (OS edition for the support lookup, BIOS date,
``patches.reboot_required``) are read from the host's latest report once per report and kept
in memory by report id. The computed families are cached for ``metrics_cache_seconds``
(``INVENTAR_METRICS_CACHE_SECONDS``, default 10 s; 0 = never); the age of what a scrape
returns is ``inventar_metrics_cache_age_seconds``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
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
from collector.discovery import unmanaged_legacy_port_metric, unmanaged_metric
from collector.models import (
    Agent,
    Asset,
    DisplayRow,
    Finding,
    Host,
    PendingPatchRow,
    SecurityUpdateSighting,
    Site,
    WlanRow,
    table_of,
)
from collector.security import FLEET, MetricsScope

log = logging.getLogger(__name__)

RESULTS = ("stored", "duplicate", "rejected", "unauthorized", "error")
OS_FAMILIES = ("windows", "linux", "darwin", "unknown")
# Per-host failing checks only for these severities (bounded cardinality, design.md).
HOST_CHECK_SEVERITIES = ("high", "critical")
# Display size classes by diagonal (inches), half-open intervals [low, high).
SIZE_CLASSES = ("<21.5", "21.5-24", "24-27", ">=27", "unknown")
INGEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_CHUNK = 500  # ids per IN (...) when reading reports


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric family as it appears in the exposition."""

    name: str
    type: str  # gauge | counter | histogram
    help: str
    labels: tuple[str, ...] = ()

    def series_names(self) -> tuple[str, ...]:
        """The sample names this family exposes (what PromQL refers to)."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


def _g(name: str, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "gauge", help_, labels)


CATALOGUE: tuple[MetricSpec, ...] = (
    _g("inventar_site_info", "A site and its kind (value 1).", "site", "site_kind"),
    _g(
        "inventar_hosts",
        "Hosts known to the collector, by site, site kind and OS family (every site and "
        "family, also 0).",
        "site",
        "site_kind",
        "os_family",
    ),
    _g(
        "inventar_host_info",
        "Facts about a host (value 1).",
        "host",
        "site",
        "os",
        "os_version",
        "chassis",
        "model",
    ),
    _g(
        "inventar_host_last_seen_timestamp_seconds",
        "When the host's last report was received (Unix time).",
        "host",
        "site",
    ),
    _g(
        "inventar_check_failing_hosts",
        "Hosts whose current finding of a check fails (waived findings not counted).",
        "check",
        "category",
        "severity",
        "site",
    ),
    _g(
        "inventar_host_check_failing",
        "A failing check of severity high or critical on a host (value 1).",
        "host",
        "site",
        "check",
        "severity",
    ),
    _g(
        "inventar_host_updates_pending",
        "Updates pending on a host, security and other.",
        "host",
        "site",
        "class",
    ),
    _g(
        "inventar_host_security_updates_pending_since_timestamp_seconds",
        "When the collector first saw the oldest still pending security update of a host "
        "(Unix time); absent when none is pending.",
        "host",
        "site",
    ),
    _g(
        "inventar_host_reboot_required",
        "1 when the host reports a reboot pending to complete updates, else 0 (absent when "
        "unknown).",
        "host",
        "site",
    ),
    _g(
        "inventar_host_os_support_end_timestamp_seconds",
        "End of vendor security support of the host's OS release (Unix time, 00:00 UTC of the "
        "last supported day; policies/data/os_support.yaml); absent when the release is unknown.",
        "host",
        "site",
    ),
    _g(
        "inventar_wlan_connections",
        "Connected WLAN interfaces, by site and security of the network.",
        "site",
        "security",
    ),
    _g(
        "inventar_displays",
        "Displays, by site and size class of the diagonal in inches (<21.5, 21.5-24, 24-27, "
        ">=27, unknown).",
        "site",
        "size_class",
    ),
    _g(
        "inventar_devices_due_replacement",
        "Devices by the calendar year their replacement is due (past years: overdue), by site "
        "and lifecycle category (policies/data/lifecycle.yaml).",
        "site",
        "category",
        "year",
    ),
    _g(
        "inventar_devices_unmanaged",
        "Devices found by network discovery whose MAC belongs to no reporting host, by site.",
        "site",
    ),
    _g(
        "inventar_devices_unmanaged_legacy_port",
        "Unmanaged devices with the port of a legacy service open (ftp, telnet, netbios-ssn, "
        "lpd), by site and service.",
        "site",
        "service",
    ),
    _g("inventar_agents_enrolled", "Enrolled agents that are not revoked."),
    MetricSpec(
        "inventar_reports_received_total",
        "counter",
        "Reports received by the collector, by result.",
        ("result",),
    ),
    MetricSpec(
        "inventar_report_ingest_seconds",
        "histogram",
        "Time to validate and store a report (stored and duplicate reports).",
    ),
    _g(
        "inventar_decode_workers",
        "Report decode worker processes running (0 while none is: reports are then decoded in "
        "the serving process, more slowly).",
    ),
    MetricSpec(
        "inventar_decode_worker_exits_total",
        "counter",
        "Report decode worker processes that ended while the collector ran (each is replaced).",
    ),
    _g(
        "inventar_metrics_database_up",
        "1 when the last computation of the inventory metrics could read the database, else 0.",
    ),
    _g(
        "inventar_metrics_cache_age_seconds",
        "Age of the inventory metrics returned by this scrape (0 = computed for this scrape).",
    ),
    _g(
        "inventar_metrics_compute_seconds",
        "Time the last computation of the inventory metrics took.",
    ),
)
SPECS = {spec.name: spec for spec in CATALOGUE}


def catalogue_markdown() -> str:
    """The README's metrics table."""
    lines = ["| Metric | Type | Labels | Help |", "| --- | --- | --- | --- |"]
    for spec in CATALOGUE:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
        help_ = spec.help.replace("|", "\\|")
        lines.append(f"| `{spec.name}` | {spec.type} | {labels} | {help_} |")
    return "\n".join(lines) + "\n"


class Family:
    """A gauge family as plain rows: cheap to build for 100,000s of series and rendered to
    the text format directly (prometheus_client's generic path costs ~5 us per series)."""

    __slots__ = ("help", "labels", "name", "rows")

    def __init__(self, name: str, help_: str, labels: Sequence[str]) -> None:
        self.name = name
        self.help = help_
        self.labels = tuple(labels)
        self.rows: list[tuple[Sequence[str], float, str | None]] = []

    def add_metric(self, values: Sequence[str], value: float, text: str | None = None) -> None:
        """``text``: the rendered label set (``a="x",b="y"``, escaped) when the caller has it."""
        self.rows.append((values, value, text))

    @classmethod
    def of(cls, metric: Metric) -> Family:
        labels: list[str] = []
        for sample in metric.samples:
            labels = list(sample.labels)
            break
        family = cls(metric.name, metric.documentation, labels)
        for sample in metric.samples:
            family.add_metric([sample.labels[k] for k in labels], sample.value)
        return family

    def to_prometheus(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(self.name, self.help, labels=list(self.labels))
        for values, value, _ in self.rows:
            family.add_metric(list(values), value)
        return family

    def render(self, out: list[str], escaped: dict[str, str]) -> None:
        """Appends the text exposition (format 0.0.4) of this family to ``out``."""
        name = self.name
        help_ = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {name} {help_}\n# TYPE {name} gauge\n")
        if not self.labels:
            out.extend(f"{name} {_number(value)}\n" for _, value, _ in self.rows)
            return
        # Labels sorted by name, as prometheus_client writes them.
        order = sorted(range(len(self.labels)), key=self.labels.__getitem__)
        for values, value, text in self.rows:
            if text is None:
                parts: list[str] = []
                for i in order:
                    label, v = self.labels[i], values[i]
                    e = escaped.get(v)
                    if e is None:
                        e = escaped[v] = _escape(v)
                    parts.append(f'{label}="{e}"')
                out.append(f"{name}{{{','.join(parts)}}} {_number(value)}\n")
            else:
                out.append(f"{name}{{{text}}} {_number(value)}\n")


def _escape(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def _number(value: float) -> str:
    if value == 1.0:
        return "1.0"
    if value == 0.0:
        return "0.0"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _family(name: str) -> Family:
    spec = SPECS[name]
    return Family(name, spec.help, spec.labels)


def size_class(diagonal_in: float | None) -> str:
    if diagonal_in is None or diagonal_in <= 0:
        return "unknown"
    if diagonal_in < 21.5:
        return "<21.5"
    if diagonal_in < 24:
        return "21.5-24"
    if diagonal_in < 27:
        return "24-27"
    return ">=27"


# --- facts that only the stored report holds ---------------------------------------------


@dataclass(frozen=True)
class ReportFacts:
    os_support_end: float | None
    bios_date: dt.date | None
    reboot_required: bool | None


class _References:
    """OS support and lifecycle reference data, loaded once (None when it does not load)."""

    def __init__(self) -> None:
        self._loaded = False
        self.reference: Any = None
        self.lifecycle: Any = None

    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from collector.budget.lifecycle import LifecycleError, load_lifecycle  # noqa: PLC0415
        from collector.policy.cli import default_policies_dir  # noqa: PLC0415
        from collector.policy.reference import (  # noqa: PLC0415
            ReferenceDataError,
            load_reference_data,
        )

        try:
            self.reference = load_reference_data(default_policies_dir())
        except ReferenceDataError as exc:
            log.error("metrics: no OS support data: %s", exc)
        try:
            self.lifecycle = load_lifecycle()
        except LifecycleError as exc:
            log.error("metrics: no lifecycle data: %s", exc.message)


def report_facts(raw: str, references: _References) -> ReportFacts:
    from collector.policy.derive import os_release  # noqa: PLC0415

    try:
        report = json.loads(raw)
    except ValueError:
        return ReportFacts(None, None, None)
    if not isinstance(report, dict):
        return ReportFacts(None, None, None)
    end = None
    if references.reference is not None:
        entry = os_release(report.get("os"), references.reference)
        if entry is not None:
            end = dt.datetime.combine(entry.end, dt.time(), dt.UTC).timestamp()
    host = report.get("host") if isinstance(report.get("host"), dict) else {}
    bios = None
    if isinstance(host, dict) and isinstance(host.get("bios_date"), str):
        try:
            bios = dt.date.fromisoformat(host["bios_date"][:10])
        except ValueError:
            bios = None
    patches = report.get("patches")
    reboot = patches.get("reboot_required") if isinstance(patches, dict) else None
    return ReportFacts(end, bios, reboot if isinstance(reboot, bool) else None)


# --- the collector -----------------------------------------------------------------------

_H = table_of(Host)
_S = table_of(Site)
_F = table_of(Finding)
_P = table_of(PendingPatchRow)
_SIGHT = table_of(SecurityUpdateSighting)
_W = table_of(WlanRow)
_D = table_of(DisplayRow)
_A = table_of(Agent)
_ASSET = table_of(Asset)

_FAILING = sa.and_(_F.c.resolved_at.is_(None), _F.c.status == "fail")


@dataclass(frozen=True)
class _Orgs:
    """Which sites (by name, unique across organizations) and how many agents each
    organization has: what an organization-scoped scrape is cut to."""

    sites: dict[int, set[str]]
    agents: dict[int, int]

    def only(self, org_id: int, families: Sequence[Family]) -> list[Family]:
        """The families with only the series of ``org_id``'s sites (every inventory series
        carries a ``site`` label); the agent count of that organization."""
        mine = self.sites.get(org_id, set())
        out = []
        for family in families:
            if family.name == "inventar_agents_enrolled":
                scoped = Family(family.name, family.help, family.labels)
                scoped.add_metric([], float(self.agents.get(org_id, 0)))
                out.append(scoped)
                continue
            if "site" not in family.labels:
                continue  # about the collector process, not the organization
            at = family.labels.index("site")
            scoped = Family(family.name, family.help, family.labels)
            scoped.rows = [row for row in family.rows if row[0][at] in mine]
            out.append(scoped)
        return out


class InventoryCollector(Collector):
    def __init__(self, db: Database, cache_seconds: float = 0.0) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self.references = _References()
        self._facts: dict[int, tuple[str, ReportFacts]] = {}  # host id -> (report id, facts)
        self._lock = threading.Lock()
        self._cached: list[Family] = []
        self._orgs = _Orgs({}, {})
        self._cached_at = -1.0
        self._compute_seconds = 0.0
        self._database_up = 0.0

    def describe(self) -> Iterable[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def snapshot(self, scope: MetricsScope = FLEET) -> list[Family]:
        """The inventory families, computed now or taken from the cache, and the metrics
        about their computation; for an organization's scope only its own series."""
        with self._lock:
            now = time.monotonic()
            if self._cached_at < 0 or now - self._cached_at >= self.cache_seconds:
                started = time.perf_counter()
                self._cached = self._compute()
                self._compute_seconds = time.perf_counter() - started
                self._cached_at = time.monotonic()
                now = self._cached_at
            families = list(self._cached)
            orgs = self._orgs
            age = now - self._cached_at
            compute_seconds = self._compute_seconds
            database_up = self._database_up
        if scope.org_id is not None:
            return orgs.only(scope.org_id, families)
        for name, value in (
            ("inventar_metrics_database_up", database_up),
            ("inventar_metrics_cache_age_seconds", age),
            ("inventar_metrics_compute_seconds", compute_seconds),
        ):
            family = _family(name)
            family.add_metric((), value)
            families.append(family)
        return families

    def collect(self) -> Iterator[Metric]:
        for family in self.snapshot():
            yield family.to_prometheus()

    def _compute(self) -> list[Family]:
        self.references.load()
        try:
            families = self._inventory()
        except sa.exc.SQLAlchemyError:
            log.exception("metrics: database query failed")
            self._database_up = 0.0
            return []
        self._database_up = 1.0
        # inventar_devices_unmanaged{site} (collector/discovery.py)
        families.extend(Family.of(metric) for metric in unmanaged_metric(self.db))
        families.extend(Family.of(metric) for metric in unmanaged_legacy_port_metric(self.db))
        return families

    def _inventory(self) -> list[Family]:
        with self.db.engine.connect() as conn:
            sites = conn.execute(sa.select(_S.c.id, _S.c.name, _S.c.kind)).all()
            site_orgs = conn.execute(sa.select(_S.c.name, _S.c.org_id)).all()
            hosts = conn.execute(
                sa.select(
                    _H.c.id,
                    _H.c.site_id,
                    _H.c.hostname,
                    _H.c.machine_id,
                    _epoch(self.db, _H.c.last_seen),
                    _H.c.os_family,
                    _H.c.os_name,
                    _H.c.os_version,
                    _H.c.chassis,
                    _H.c.model,
                    _H.c.last_report_id,
                    _ASSET.c.purchase_date,
                )
                .outerjoin(
                    _ASSET,
                    sa.and_(_ASSET.c.org_id == _H.c.org_id, _ASSET.c.serial == _H.c.serial),
                )
                .order_by(_H.c.id)
            ).all()
            check_counts = conn.execute(
                sa.select(
                    _H.c.site_id, _F.c.check_id, _F.c.category, _F.c.severity, sa.func.count()
                )
                .join(_H, _H.c.id == _F.c.host_id)
                .where(_FAILING)
                .group_by(_H.c.site_id, _F.c.check_id, _F.c.category, _F.c.severity)
            ).all()
            host_checks = conn.execute(
                sa.select(_F.c.host_id, _F.c.check_id, _F.c.severity).where(
                    _FAILING, _F.c.severity.in_(HOST_CHECK_SEVERITIES)
                )
            ).all()
            pending = conn.execute(
                sa.select(_P.c.host_id, _P.c.security, sa.func.count()).group_by(
                    _P.c.host_id, _P.c.security
                )
            ).all()
            since = conn.execute(
                sa.select(_SIGHT.c.host_id, sa.func.min(_SIGHT.c.first_seen)).group_by(
                    _SIGHT.c.host_id
                )
            ).all()
            wlan = conn.execute(
                sa.select(_H.c.site_id, _W.c.security, sa.func.count())
                .join(_H, _H.c.id == _W.c.host_id)
                .where(_W.c.connected.is_(True))
                .group_by(_H.c.site_id, _W.c.security)
            ).all()
            displays = conn.execute(
                sa.select(_H.c.site_id, _D.c.diagonal_in, _D.c.internal, _D.c.year, sa.func.count())
                .join(_H, _H.c.id == _D.c.host_id)
                .group_by(_H.c.site_id, _D.c.diagonal_in, _D.c.internal, _D.c.year)
            ).all()
            agents_by_org = conn.execute(
                sa.select(_S.c.org_id, sa.func.count())
                .select_from(_A)
                .join(_S, _S.c.id == _A.c.site_id)
                .where(_A.c.revoked.is_(False))
                .group_by(_S.c.org_id)
            ).all()
            facts = self._report_facts(conn, [(row[0], row[10]) for row in hosts])

        site_name = {sid: name for sid, name, _ in sites}
        out: list[Family] = []

        site_info = _family("inventar_site_info")
        counts: dict[tuple[int, str], int] = {}
        for _, site_id, _, _, _, os_family, *_ in hosts:
            family = os_family if os_family in OS_FAMILIES else "unknown"
            counts[(site_id, family)] = counts.get((site_id, family), 0) + 1
        host_count = _family("inventar_hosts")
        for sid, name, kind in sites:
            site_info.add_metric([name, kind], 1.0)
            for family in OS_FAMILIES:
                host_count.add_metric([name, kind, family], float(counts.get((sid, family), 0)))
        out += [site_info, host_count]

        # Host label: the hostname, unique per site (else the machine id); its label text
        # host="..",site=".." is rendered once and shared by the per-host families.
        label: dict[int, tuple[tuple[str, str], str, str]] = {}
        taken: set[tuple[str, str]] = set()
        info = _family("inventar_host_info")
        last_seen = _family("inventar_host_last_seen_timestamp_seconds")
        reboot = _family("inventar_host_reboot_required")
        support_end = _family("inventar_host_os_support_end_timestamp_seconds")
        updates = _family("inventar_host_updates_pending")
        by_class: dict[tuple[int, bool], int] = {}
        for host_id, security, n in pending:
            key = (host_id, bool(security))
            by_class[key] = by_class.get(key, 0) + int(n)
        for (
            host_id, site_id, hostname, machine_id, seen, os_family, os_name, os_version,
            chassis, model, *_,
        ) in hosts:  # fmt: skip
            site = site_name.get(site_id, "")
            name = hostname or machine_id
            if (name, site) in taken:
                name = machine_id
            pair = (name, site)
            taken.add(pair)
            host_text, site_text = f'host="{_escape(name)}"', f'site="{_escape(site)}"'
            text = f"{host_text},{site_text}"
            label[host_id] = (pair, host_text, site_text)
            values = (name, site, os_name or os_family or "", os_version or "", chassis or "",
                      model or "")  # fmt: skip
            info.add_metric(
                values,
                1.0,  # labels sorted by name, as prometheus_client writes them
                f'chassis="{_escape(values[4])}",{host_text},model="{_escape(values[5])}",'
                f'os="{_escape(values[2])}",os_version="{_escape(values[3])}",{site_text}',
            )
            last_seen.add_metric(pair, float(seen), text)
            updates.add_metric(
                (*pair, "security"),
                float(by_class.get((host_id, True), 0)),
                'class="security",' + text,
            )
            updates.add_metric(
                (*pair, "other"), float(by_class.get((host_id, False), 0)), 'class="other",' + text
            )
            fact = facts.get(host_id)
            if fact is None:
                continue
            if fact.reboot_required is not None:
                reboot.add_metric(pair, 1.0 if fact.reboot_required else 0.0, text)
            if fact.os_support_end is not None:
                support_end.add_metric(pair, fact.os_support_end, text)
        out += [info, last_seen]

        failing = _family("inventar_check_failing_hosts")
        for sid, check, category, severity, n in check_counts:
            failing.add_metric([check, category, severity, site_name.get(sid, "")], float(n))
        host_failing = _family("inventar_host_check_failing")
        for host_id, check, severity in host_checks:
            if host_id in label:
                pair, host_text, site_text = label[host_id]
                host_failing.add_metric(
                    (*pair, check, severity),
                    1.0,
                    f'check="{_escape(check)}",{host_text},severity="{_escape(severity)}",'
                    + site_text,
                )
        out += [failing, host_failing]

        pending_since = _family("inventar_host_security_updates_pending_since_timestamp_seconds")
        for host_id, first_seen in since:
            if host_id in label and first_seen is not None:
                pair, host_text, site_text = label[host_id]
                pending_since.add_metric(pair, _timestamp(first_seen), f"{host_text},{site_text}")
        out += [updates, pending_since, reboot, support_end]

        connections = _family("inventar_wlan_connections")
        for sid, security, n in wlan:
            connections.add_metric([site_name.get(sid, ""), security or "unknown"], float(n))
        sizes: dict[tuple[str, str], int] = {}
        for sid, diagonal, _internal, _year, n in displays:
            size_key = (site_name.get(sid, ""), size_class(diagonal))
            sizes[size_key] = sizes.get(size_key, 0) + int(n)
        display_count = _family("inventar_displays")
        for (site, cls), n in sorted(sizes.items()):
            display_count.add_metric([site, cls], float(n))
        out += [connections, display_count]

        out.append(self._due_replacement(hosts, facts, displays, site_name))

        enrolled = _family("inventar_agents_enrolled")
        enrolled.add_metric([], float(sum(n for _, n in agents_by_org)))
        out.append(enrolled)
        sites_of: dict[int, set[str]] = {}
        for name, org_id in site_orgs:
            sites_of.setdefault(org_id, set()).add(name)
        self._orgs = _Orgs(sites_of, {org: int(n) for org, n in agents_by_org})
        return out

    def _due_replacement(
        self,
        hosts: Sequence[Any],
        facts: dict[int, ReportFacts],
        displays: Sequence[Any],
        site_name: dict[int, str],
    ) -> Family:
        """Hosts by chassis category, age from the purchase date (asset register) else the
        BIOS date; external monitors by their year of manufacture (EDID)."""
        due = _family("inventar_devices_due_replacement")
        lifecycle = self.references.lifecycle
        if lifecycle is None:
            return due
        counts: dict[tuple[str, str, int], int] = {}
        categories = lifecycle.categories
        for host_id, site_id, *_, chassis, _model, _report, purchase in hosts:
            category = lifecycle.category_of(chassis)
            if category is None or category not in categories:
                continue
            fact = facts.get(host_id)
            start = purchase or (fact.bios_date if fact else None)
            if start is None:
                continue
            key = (
                site_name.get(site_id, ""),
                category,
                start.year + categories[category].replace_after_years,
            )
            counts[key] = counts.get(key, 0) + 1
        monitor = lifecycle.categories.get("monitor")
        if monitor is not None:
            for sid, _diagonal, internal, made, n in displays:
                if internal is True or not made:
                    continue
                key = (site_name.get(sid, ""), "monitor", int(made) + monitor.replace_after_years)
                counts[key] = counts.get(key, 0) + int(n)
        for (site, category, year), n in sorted(counts.items()):
            due.add_metric([site, category, str(year)], float(n))
        return due

    def _report_facts(
        self, conn: sa.Connection, hosts: list[tuple[int, str | None]]
    ) -> dict[int, ReportFacts]:
        """Facts of each host's latest report; reports not seen before are read and parsed."""
        wanted = {host_id: report_id for host_id, report_id in hosts if report_id}
        missing = [
            report_id
            for host_id, report_id in wanted.items()
            if self._facts.get(host_id, ("", None))[0] != report_id
        ]
        parsed: dict[str, ReportFacts] = {}
        reports = sa.table("reports", sa.column("report_id"), sa.column("raw"))
        for i in range(0, len(missing), _CHUNK):
            chunk = missing[i : i + _CHUNK]
            rows = conn.execute(
                sa.select(reports.c.report_id, reports.c.raw).where(reports.c.report_id.in_(chunk))
            )
            for report_id, raw in rows:
                parsed[report_id] = report_facts(raw, self.references)
        fresh: dict[int, tuple[str, ReportFacts]] = {}
        for host_id, report_id in wanted.items():
            old = self._facts.get(host_id)
            if old is not None and old[0] == report_id:
                fresh[host_id] = old
            elif report_id in parsed:
                fresh[host_id] = (report_id, parsed[report_id])
        self._facts = fresh  # hosts that are gone drop out
        return {host_id: facts for host_id, (_, facts) in fresh.items()}


def _epoch(db: Database, column: Any) -> Any:
    """A timestamp column as Unix time in SQL (no datetime parsing per row in Python)."""
    if db.is_sqlite:  # stored as UTC text "YYYY-MM-DD HH:MM:SS.ffffff"
        return (sa.func.julianday(column) - 2440587.5) * 86400.0
    return sa.extract("epoch", column)


def _timestamp(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


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


class Metrics:
    """The app's own registry (one per app, so several apps in one process do not clash)."""

    def __init__(
        self, db: Database, cache_seconds: float = 0.0, pool: DecodePool | None = None
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
        self.inventory = InventoryCollector(db, cache_seconds)
        self.registry.register(self.inventory)

    def render(self, scope: MetricsScope = FLEET) -> bytes:
        """The exposition of :attr:`registry` (text format 0.0.4), the inventory part
        rendered by :meth:`Family.render` (what ``generate_latest`` would give, faster).
        An organization's scope gets its own inventory series only, none of the process."""
        out: list[str] = []
        escaped: dict[str, str] = {}
        for family in self.inventory.snapshot(scope):
            family.render(out, escaped)
        if scope.org_id is not None:
            return "".join(out).encode()
        own = _Instruments([self.reports, self.ingest_seconds, self.decode_pool])
        return generate_latest(own) + "".join(out).encode()


class _Instruments:
    """The process's own instruments as a registry-like object for ``generate_latest``."""

    def __init__(self, instruments: Sequence[Counter | Histogram | Collector]) -> None:
        self.instruments = instruments

    def collect(self) -> Iterator[Metric]:
        for instrument in self.instruments:
            yield from instrument.collect()
