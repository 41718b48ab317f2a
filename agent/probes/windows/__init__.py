"""Windows probes, one module per fact area.

Everything is read through the one command runner (``ctx.run``): built-in commands
(``systeminfo``, ``netsh``, ``manage-bde``) and PowerShell. Nothing here imports winreg,
pywin32 or WMI bindings, so these modules import on Linux and replay support bundles
recorded on Windows. Localized output (German, English) is handled by the parsers.
"""

from __future__ import annotations

POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-Command")


def powershell(script: str) -> list[str]:
    return [*POWERSHELL, script]
