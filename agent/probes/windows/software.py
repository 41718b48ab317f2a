"""Installed software on Windows: the Uninstall registry keys (machine-wide, 64- and 32-bit)
read with PowerShell as JSON; DisplayName, DisplayVersion and Publisher are kept. Per-user
keys (HKCU) are left out: a service sees only its own account's.

The JSON is the shape every such query gives (one object per key, the selected properties
by name); the parser is tested with a real capture of another tool's query of the same keys
(tests/fixtures/windows-outputs/uninstall-json-server2019.txt). No real output of this exact
command is recorded, so no support bundle holds it.
"""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers.uninstall_json import parse_programs
from agent.probes.windows import powershell
from agent.schema import Software

UNINSTALL = powershell(
    "Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*',"
    "'HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*' -EA 0 |"
    " Where-Object DisplayName | Select-Object DisplayName,DisplayVersion,Publisher |"
    " ConvertTo-Json -Compress"
)
TIMEOUT_S = 60.0


def collect(ctx: ProbeContext) -> list[Software] | None:
    text = ctx.output(UNINSTALL, timeout=TIMEOUT_S)
    if text is None:
        return None
    programs = parse_programs(text)
    if programs is None:
        ctx.error("Uninstall keys: output is not the expected JSON")
        return None
    return [
        Software(
            name=p.name[:256],
            version=p.version[:256] if p.version else None,
            publisher=p.publisher[:256] if p.publisher else None,
        )
        for p in programs
    ]
