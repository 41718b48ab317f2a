"""Installed software from the system's package database (dpkg or rpm)."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers.packages import DPKG_QUERY_ARGV, RPM_QA_ARGV, parse_dpkg_query, parse_rpm_qa
from agent.schema import Software


def collect_linux(ctx: ProbeContext) -> list[Software] | None:
    if ctx.exists("/var/lib/dpkg/status"):
        text = ctx.output(DPKG_QUERY_ARGV, timeout=60)
        packages = parse_dpkg_query(text) if text is not None else None
    elif ctx.exists("/var/lib/rpm") or ctx.exists("/usr/lib/sysimage/rpm"):
        text = ctx.output(RPM_QA_ARGV, timeout=60)
        packages = parse_rpm_qa(text) if text is not None else None
    else:
        ctx.error("no package database found (dpkg, rpm)")
        return None
    if packages is None:
        return None
    return [
        Software(
            name=p.name,
            version=p.version,
            publisher=p.publisher,
            source=p.source,
            source_version=p.source_version,
        )
        for p in packages
    ]
