"""The metric catalogue: every family Inventar exports, with type, help and labels.

Names are part of the interface (design.md "Metrics"). The tests hold the live exposition,
the alert rules (deploy/prometheus) and the Grafana dashboards (deploy/grafana) against it,
and the README's metrics table is :func:`catalogue_markdown`.
"""

from __future__ import annotations

from dataclasses import dataclass

RESULTS = ("stored", "duplicate", "rejected", "unauthorized", "error")
OS_FAMILIES = ("windows", "linux", "darwin", "unknown")
# Per-host failing checks only for these severities (bounded cardinality, design.md).
HOST_CHECK_SEVERITIES = ("high", "critical")
# Display size classes by diagonal (inches), half-open intervals [low, high).
SIZE_CLASSES = ("<21.5", "21.5-24", "24-27", ">=27", "unknown")
INGEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric family as it appears in the exposition."""

    name: str
    type: str  # gauge | counter | histogram
    help: str
    labels: tuple[str, ...] = ()
    # Where it is exported: "inventory" (/metrics/inventory, the fleet's figures, the same on
    # every replica: scraped once through the load balancer) or "process" (/metrics, this
    # process's own series: scraped on every replica).
    endpoint: str = "inventory"

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
        "inventar_check_failing_devices",
        "Discovered devices whose current finding of a device check (policies/devices.yaml) "
        "fails (waived findings not counted).",
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
    _g(
        "inventar_vulnerable_hosts",
        "Hosts with at least one known vulnerability (collector.vulns), by site, the vendor's "
        "severity (critical, high, medium, low, negligible, unknown) and whether CISA's KEV "
        "lists it as exploited in the wild (kev=true|false); a host counts once per severity "
        "and kev.",
        "site",
        "severity",
        "kev",
    ),
    _g(
        "inventar_vuln_feed_age_seconds",
        "Age of each imported vulnerability feed (debian, ubuntu, msrc, kev, epss): from the "
        "date the feed states, else from its import. Warned about after 7 days.",
        "feed",
    ),
    _g("inventar_agents_enrolled", "Enrolled agents that are not revoked."),
    MetricSpec(
        "inventar_reports_received_total",
        "counter",
        "Reports received by this collector process, by result.",
        ("result",),
        "process",
    ),
    MetricSpec(
        "inventar_report_ingest_seconds",
        "histogram",
        "Time to validate and store a report (stored and duplicate reports), in this process.",
        (),
        "process",
    ),
    MetricSpec(
        "inventar_decode_workers",
        "gauge",
        "Report decode worker processes running (0 while none is: reports are then decoded in "
        "the serving process, more slowly).",
        (),
        "process",
    ),
    MetricSpec(
        "inventar_decode_worker_exits_total",
        "counter",
        "Report decode worker processes that ended while the collector ran (each is replaced).",
        (),
        "process",
    ),
    MetricSpec(
        "inventar_jobs_run_total",
        "counter",
        "Rounds of scheduled jobs this process ran, by task (each tick runs once across "
        "replicas: collector/jobs.py).",
        ("task",),
        "process",
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
    lines = ["| Metric | Type | Labels | Endpoint | Help |", "| --- | --- | --- | --- | --- |"]
    for spec in CATALOGUE:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
        help_ = spec.help.replace("|", "\\|")
        path = "/metrics" if spec.endpoint == "process" else "/metrics/inventory"
        lines.append(f"| `{spec.name}` | {spec.type} | {labels} | `{path}` | {help_} |")
    return "\n".join(lines) + "\n"


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
