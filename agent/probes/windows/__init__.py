"""Windows probes, one module per fact area.

Facts are read where Windows itself keeps them: the registry through ``ctx.reg_values`` /
``ctx.reg_subkeys`` (agent.registry: winreg live, a ``.reg`` export in replay) and the
Windows Update Agent's COM objects through ``ctx.machine.update_agent`` (agent.wua: comtypes
live, JSON in replay). Text commands are kept only where real output of the exact command
is public and tested (``systeminfo``, ``netsh wlan``, ``netsh advfirewall``, ``manage-bde``,
and a few PowerShell cmdlets whose property names are never translated); ``wmic`` is not
used (removed from Windows 11 24H2). Nothing here imports winreg, comtypes or pywin32, so
these modules import on Linux and replay support bundles recorded on Windows.
"""

from __future__ import annotations

POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-Command")


def powershell(script: str) -> list[str]:
    """A one-line script (no double quotes: they do not survive Windows' argument quoting)."""
    return [*POWERSHELL, script]
