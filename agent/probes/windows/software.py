"""Installed software on Windows: the Uninstall registry keys (64- and 32-bit, machine-wide)
read with PowerShell as JSON. Per-user keys (HKCU) are left out: they name no user here, but
a service sees only its own."""

from __future__ import annotations

import json
from typing import Any

from agent.context import ProbeContext
from agent.probes.windows import powershell
from agent.schema import Software

UNINSTALL = powershell(
    "Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*',"
    "'HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*' -EA 0 |"
    " Where-Object DisplayName | Select-Object DisplayName,DisplayVersion,Publisher |"
    " ConvertTo-Json -Compress"
)


def collect(ctx: ProbeContext) -> list[Software] | None:
    text = ctx.output(UNINSTALL, timeout=60.0)
    if text is None:
        return None
    try:
        data: Any = json.loads(text) if text.strip() else []
    except ValueError:
        ctx.error("Uninstall keys: output is not JSON")
        return None
    if isinstance(data, dict):  # ConvertTo-Json prints one object without an array
        data = [data]
    seen: set[tuple[str, str | None]] = set()
    result = []
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict) or not entry.get("DisplayName"):
            continue
        key = (str(entry["DisplayName"]), entry.get("DisplayVersion"))
        if key in seen:
            continue
        seen.add(key)
        result.append(
            Software(name=key[0][:256], version=key[1], publisher=entry.get("Publisher") or None)
        )
    return result
