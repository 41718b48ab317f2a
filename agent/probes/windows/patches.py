"""Patch status on Windows: pending updates from the Windows Update Agent (COM API through
PowerShell; security = category "Security Updates" or an MSRC severity), and the reboot flag
from the usual registry keys. No captured real output of this script exists in the
fixtures; a bundle without it reports the patch state unknown."""

from __future__ import annotations

import json
from typing import Any

from agent.context import ProbeContext
from agent.probes.windows import powershell
from agent.schema import Patches, PendingUpdate

WUA = powershell(
    "$s=(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher();"
    "$u=$s.Search('IsInstalled=0 and IsHidden=0').Updates;"
    "$p=@($u|%{@{title=$_.Title;severity=$_.MsrcSeverity;"
    "security=[bool](@($_.Categories|?{$_.Name -eq 'Security Updates'}).Count)}});"
    "$rb=(Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\"
    "Auto Update\\RebootRequired') -or (Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\"
    "CurrentVersion\\Component Based Servicing\\RebootPending');"
    "@{pending=$p;reboot=$rb}|ConvertTo-Json -Depth 4 -Compress"
)
TIMEOUT_S = 300.0


def collect(ctx: ProbeContext) -> Patches:
    patches = Patches(manager="windows-update")
    text = ctx.output(WUA, timeout=TIMEOUT_S)
    if text is None:
        return patches
    try:
        data: Any = json.loads(text)
    except ValueError:
        ctx.error("Windows Update Agent: output is not JSON")
        return patches
    pending = data.get("pending") if isinstance(data, dict) else None
    if not isinstance(pending, list):
        ctx.error("Windows Update Agent: unexpected JSON")
        return patches
    updates = [
        PendingUpdate(
            name=str(p.get("title"))[:256],
            security=bool(p.get("security")) or bool(p.get("severity")),
        )
        for p in pending
        if isinstance(p, dict)
    ]
    patches.pending = updates
    patches.pending_count = len(updates)
    patches.pending_security_count = sum(1 for u in updates if u.security)
    patches.reboot_required = data.get("reboot") if isinstance(data.get("reboot"), bool) else None
    return patches
