"""Pending macOS updates from ``softwareupdate -l`` (it asks Apple's servers: slow)."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers.softwareupdate import parse_list
from agent.schema import Patches, PendingUpdate

SOFTWAREUPDATE = ["softwareupdate", "-l"]


def collect(ctx: ProbeContext) -> Patches:
    patches = Patches(manager="softwareupdate")
    result = ctx.run(SOFTWAREUPDATE, timeout=300.0)
    if result.exit_code is None:
        ctx.error(result.describe())
        return patches
    # "No new software available." goes to stderr.
    updates = parse_list(result.stdout + "\n" + result.stderr)
    if updates is None:
        ctx.error("softwareupdate -l: unrecognised output")
        return patches
    patches.pending = [
        PendingUpdate(
            name=u.title or u.label,
            available=u.version,
            # Apple does not flag security content; only a title that says so counts.
            security=True if u.title and "Security" in u.title else None,
        )
        for u in updates
    ]
    patches.pending_count = len(updates)
    patches.reboot_required = any(u.restart for u in updates) if updates else False
    return patches
