"""The fleet's inventory as metric families, computed from the database at scrape time
(never stale global gauges: a removed host's series disappear with the next scrape).

Everything comes from the stored current state: hosts' columns and derived facts
(collector.policy.facts), the normalized rows, the findings, and the devices that age
(collector.replacement, shared with the budget). The computed families are cached for
``metrics_cache_seconds`` (``INVENTAR_METRICS_CACHE_SECONDS``; 0 = computed per scrape); the
age of what a scrape returns is ``inventar_metrics_cache_age_seconds``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from collector.db import Database
from collector.discovery import unmanaged_legacy_port_metric, unmanaged_metric
from collector.metrics.catalogue import HOST_CHECK_SEVERITIES, OS_FAMILIES, size_class
from collector.metrics.exposition import Family, escape, gauge_family
from collector.metrics.vulns import vuln_families
from collector.models import (
    Agent,
    Device,
    DeviceFinding,
    DisplayRow,
    Finding,
    Host,
    PendingPatchRow,
    SecurityUpdateSighting,
    Site,
    WlanRow,
    table_of,
)
from collector.reference_cache import current as current_reference
from collector.replacement import aging_devices
from collector.security import FLEET, MetricsScope

log = logging.getLogger(__name__)

_H = table_of(Host)
_S = table_of(Site)
_F = table_of(Finding)
_P = table_of(PendingPatchRow)
_SIGHT = table_of(SecurityUpdateSighting)
_W = table_of(WlanRow)
_D = table_of(DisplayRow)
_A = table_of(Agent)

_FAILING = sa.and_(_F.c.resolved_at.is_(None), _F.c.status == "fail")
_DF = table_of(DeviceFinding)
_DEV = table_of(Device)


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
    def __init__(
        self, db: Database, cache_seconds: float = 0.0, *, host_limit: int | None = None
    ) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self.host_limit = host_limit  # INVENTAR_METRICS_HOST_SERIES_LIMIT
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
            family = gauge_family(name)
            family.add_metric((), value)
            families.append(family)
        return families

    def collect(self) -> Iterator[Metric]:
        for family in self.snapshot():
            yield family.to_prometheus()

    def _compute(self) -> list[Family]:
        try:
            families = self._inventory()
        except sa.exc.SQLAlchemyError:
            log.exception("metrics: database query failed")
            self._database_up = 0.0
            return []
        self._database_up = 1.0
        if self.host_limit is not None:
            info = next((f for f in families if f.name == "inventar_host_info"), None)
            if info is not None and len(info.rows) > self.host_limit:
                # All hosts' series or none: a subset would read as the fleet.
                families = [f for f in families if not f.name.startswith("inventar_host_")]
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
                    _H.c.reboot_required,
                    _H.c.os_support_end,
                ).order_by(_H.c.id)
            ).all()
            check_counts = conn.execute(
                sa.select(
                    _H.c.site_id, _F.c.check_id, _F.c.category, _F.c.severity, sa.func.count()
                )
                .join(_H, _H.c.id == _F.c.host_id)
                .where(_FAILING)
                .group_by(_H.c.site_id, _F.c.check_id, _F.c.category, _F.c.severity)
            ).all()
            device_counts = conn.execute(
                sa.select(_DEV.c.site_id, _DF.c.check_id, _DF.c.category, _DF.c.severity,
                          sa.func.count())
                .join(_DEV, _DEV.c.id == _DF.c.device_id)
                .where(_DF.c.resolved_at.is_(None), _DF.c.status == "fail")
                .group_by(_DEV.c.site_id, _DF.c.check_id, _DF.c.category, _DF.c.severity)
            ).all()  # fmt: skip
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
            vulns = vuln_families(conn)
            lifecycle = current_reference()[1]
            aging = aging_devices(conn, lifecycle.lifecycle)[0] if lifecycle else None

        site_name = {sid: name for sid, name, _ in sites}
        out: list[Family] = []

        site_info = gauge_family("inventar_site_info")
        counts: dict[tuple[int, str], int] = {}
        for _, site_id, _, _, _, os_family, *_ in hosts:
            family = os_family if os_family in OS_FAMILIES else "unknown"
            counts[(site_id, family)] = counts.get((site_id, family), 0) + 1
        host_count = gauge_family("inventar_hosts")
        for sid, name, kind in sites:
            site_info.add_metric([name, kind], 1.0)
            for family in OS_FAMILIES:
                host_count.add_metric([name, kind, family], float(counts.get((sid, family), 0)))
        out += [site_info, host_count]

        # Host label: the hostname, unique per site (else the machine id); its label text
        # host="..",site=".." is rendered once and shared by the per-host families.
        label: dict[int, tuple[tuple[str, str], str, str]] = {}
        taken: set[tuple[str, str]] = set()
        info = gauge_family("inventar_host_info")
        last_seen = gauge_family("inventar_host_last_seen_timestamp_seconds")
        reboot = gauge_family("inventar_host_reboot_required")
        support_end = gauge_family("inventar_host_os_support_end_timestamp_seconds")
        updates = gauge_family("inventar_host_updates_pending")
        by_class: dict[tuple[int, bool], int] = {}
        for host_id, security, n in pending:
            key = (host_id, bool(security))
            by_class[key] = by_class.get(key, 0) + int(n)
        for (
            host_id, site_id, hostname, machine_id, seen, os_family, os_name, os_version,
            chassis, model, *rest,
        ) in hosts:  # fmt: skip
            site = site_name.get(site_id, "")
            name = hostname or machine_id
            if (name, site) in taken:
                name = machine_id
            pair = (name, site)
            taken.add(pair)
            host_text, site_text = f'host="{escape(name)}"', f'site="{escape(site)}"'
            text = f"{host_text},{site_text}"
            label[host_id] = (pair, host_text, site_text)
            values = (name, site, os_name or os_family or "", os_version or "", chassis or "",
                      model or "")  # fmt: skip
            info.add_metric(
                values,
                1.0,  # labels sorted by name, as prometheus_client writes them
                f'chassis="{escape(values[4])}",{host_text},model="{escape(values[5])}",'
                f'os="{escape(values[2])}",os_version="{escape(values[3])}",{site_text}',
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
            reboot_required, os_support_end = rest
            if reboot_required is not None:
                reboot.add_metric(pair, 1.0 if reboot_required else 0.0, text)
            if os_support_end is not None:
                end = dt.datetime.combine(os_support_end, dt.time(), dt.UTC).timestamp()
                support_end.add_metric(pair, end, text)
        out += [info, last_seen]

        failing = gauge_family("inventar_check_failing_hosts")
        for sid, check, category, severity, n in check_counts:
            failing.add_metric([check, category, severity, site_name.get(sid, "")], float(n))
        host_failing = gauge_family("inventar_host_check_failing")
        for host_id, check, severity in host_checks:
            if host_id in label:
                pair, host_text, site_text = label[host_id]
                host_failing.add_metric(
                    (*pair, check, severity),
                    1.0,
                    f'check="{escape(check)}",{host_text},severity="{escape(severity)}",'
                    + site_text,
                )
        failing_devices = gauge_family("inventar_check_failing_devices")
        for sid, check, category, severity, n in device_counts:
            failing_devices.add_metric([check, category, severity, site_name.get(sid, "")],
                                       float(n))  # fmt: skip
        out += [failing, host_failing, failing_devices]

        pending_since = gauge_family(
            "inventar_host_security_updates_pending_since_timestamp_seconds"
        )
        for host_id, first_seen in since:
            if host_id in label and first_seen is not None:
                pair, host_text, site_text = label[host_id]
                pending_since.add_metric(pair, _timestamp(first_seen), f"{host_text},{site_text}")
        out += [updates, pending_since, reboot, support_end]

        connections = gauge_family("inventar_wlan_connections")
        for sid, security, n in wlan:
            connections.add_metric([site_name.get(sid, ""), security or "unknown"], float(n))
        sizes: dict[tuple[str, str], int] = {}
        for sid, diagonal, _internal, _year, n in displays:
            size_key = (site_name.get(sid, ""), size_class(diagonal))
            sizes[size_key] = sizes.get(size_key, 0) + int(n)
        display_count = gauge_family("inventar_displays")
        for (site, cls), n in sorted(sizes.items()):
            display_count.add_metric([site, cls], float(n))
        out += [connections, display_count]

        out.append(self._due_replacement(aging))
        out += vulns

        enrolled = gauge_family("inventar_agents_enrolled")
        enrolled.add_metric([], float(sum(n for _, n in agents_by_org)))
        out.append(enrolled)
        sites_of: dict[int, set[str]] = {}
        for name, org_id in site_orgs:
            sites_of.setdefault(org_id, set()).add(name)
        self._orgs = _Orgs(sites_of, {org: int(n) for org, n in agents_by_org})
        return out

    def _due_replacement(self, aging: list[Any] | None) -> Family:
        """Devices by the year their replacement is due (collector.replacement: the same
        devices and start dates as the budget's)."""
        due = gauge_family("inventar_devices_due_replacement")
        reference = current_reference()[1]
        if aging is None or reference is None:
            return due
        counts: dict[tuple[str, str, int], int] = {}
        for device in aging:
            year = device.due_year(reference.lifecycle)
            if year is not None:
                key = (device.site, device.category, year)
                counts[key] = counts.get(key, 0) + 1
        for (site, category, year), n in sorted(counts.items()):
            due.add_metric([site, category, str(year)], float(n))
        return due


def _epoch(db: Database, column: Any) -> Any:
    """A timestamp column as Unix time in SQL (no datetime parsing per row in Python)."""
    if db.is_sqlite:  # stored as UTC text "YYYY-MM-DD HH:MM:SS.ffffff"
        return (sa.func.julianday(column) - 2440587.5) * 86400.0
    return sa.extract("epoch", column)


def _timestamp(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()
