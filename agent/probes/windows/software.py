"""Installed software on Windows from the machine-wide Uninstall registry keys, in the 64- and
the 32-bit view (KEY_WOW64_64KEY / KEY_WOW64_32KEY), filtered as "Programs and Features"
filters them (agent.parsers.uninstall). Per-user keys (HKCU, each user's hive) are left out:
they name what a person installed for themselves, and the privacy default is not to read
users' hives."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers.regvalues import Values
from agent.parsers.uninstall import programs
from agent.schema import Software
from agent.sources import View

UNINSTALL = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
VIEWS: tuple[View, ...] = (64, 32)
MAX_KEYS = 10_000


def collect(ctx: ProbeContext) -> list[Software] | None:
    keys: list[Values] = []
    read_any = False
    for view in VIEWS:
        names = ctx.reg_subkeys(UNINSTALL, view)
        if names is None:
            continue
        read_any = True
        if len(names) > MAX_KEYS:
            ctx.error(f"{UNINSTALL} ({view}-bit): {len(names)} keys, only {MAX_KEYS} read")
        for name in names[:MAX_KEYS]:
            values = ctx.reg_values(f"{UNINSTALL}\\{name}", view)
            if values:
                keys.append(values)
    if not read_any:
        return None
    return [
        Software(
            name=p.name[:256],
            version=p.version[:256] if p.version else None,
            publisher=p.publisher[:256] if p.publisher else None,
            install_date=p.install_date,
        )
        for p in programs(keys)
    ]
