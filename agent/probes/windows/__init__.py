"""Windows probes, one module per fact area.

Everything is read through the one command runner (``ctx.run``): built-in commands
(``systeminfo``, ``netsh``, ``manage-bde``, ``wmic``) and PowerShell. Nothing here imports
winreg, pywin32 or WMI bindings, so these modules import on Linux and replay support bundles
recorded on Windows. Localized output (German, English) is handled by the parsers; where a
PowerShell cmdlet gives the same fact with untranslated property names, it is preferred.

Commands are chosen so that real output of them exists in ``tests/fixtures/windows-outputs/``
(see its SOURCES.md), and the parsers are tested on what Windows really prints. Four queries
are our own and have no real capture yet: pending updates and installed programs (their
parsers are tested with real output of another tool's queries of the same JSON shape), the
reboot flag and the Defender/SMBv1/RDP posture.
"""

from __future__ import annotations

POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-Command")


def powershell(script: str) -> list[str]:
    """A one-line script (no double quotes: they do not survive Windows' argument quoting)."""
    return [*POWERSHELL, script]
