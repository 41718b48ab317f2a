"""The known-vulnerability families: hosts by site, severity and KEV (no per-CVE series: a
fleet has thousands of CVEs), and each feed's age."""

from __future__ import annotations

import sqlalchemy as sa

from collector.metrics.exposition import Family, gauge_family
from collector.queries.vulns import vulnerable_host_counts
from collector.vulns.importer import feed_states


def vuln_families(conn: sa.Connection) -> list[Family]:
    hosts = gauge_family("inventar_vulnerable_hosts")
    for site, severity, kev, n in sorted(vulnerable_host_counts(conn)):
        hosts.add_metric([site, severity, "true" if kev else "false"], float(n))
    age = gauge_family("inventar_vuln_feed_age_seconds")
    for state in feed_states(conn):
        age.add_metric([state.feed], state.age_seconds)
    return [hosts, age]
