"""Patch status on Windows.

- Installed hotfixes: ``wmic qfe get Caption,Description,HotFixID,InstalledOn``; the newest
  InstalledOn is ``last_install`` (a day: midnight UTC of that date). Its dates are
  month/day/year in every language. wmic is gone from Windows 11 24H2 on; there the date
  stays unknown (no real capture of a replacement in a form whose command is known).
- Pending updates: the Windows Update Agent's COM API through PowerShell, as JSON with the
  update's Title, MsrcSeverity, KBArticleIDs, CategoryIDs and RebootRequired; security = an
  MSRC severity or the WSUS classification "Security Updates". The parser is tested with a
  real capture of another tool's query that prints the same properties; no real output of
  this exact command is recorded, so no support bundle holds it.
- Reboot pending: the Windows Update and servicing registry flags (True/False).
"""

from __future__ import annotations

import datetime as dt

from agent.context import ProbeContext
from agent.parsers.wmic_qfe import parse_qfe
from agent.parsers.wua_json import parse_updates
from agent.probes.windows import powershell
from agent.schema import Patches, PendingUpdate

HOTFIXES = ["wmic", "qfe", "get", "Caption,Description,HotFixID,InstalledOn"]
WUA = powershell(
    "$s=(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher();"
    "$u=$s.Search('IsInstalled=0 and IsHidden=0').Updates;"
    "@($u|ForEach-Object{[pscustomobject]@{Title=$_.Title;MsrcSeverity=$_.MsrcSeverity;"
    "KBArticleIDs=@($_.KBArticleIDs);CategoryIDs=@($_.Categories|ForEach-Object{$_.CategoryID});"
    "RebootRequired=$_.RebootRequired}})|ConvertTo-Json -Depth 3 -Compress"
)
REBOOT = powershell(
    "(Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\"
    "Auto Update\\RebootRequired') -or (Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\"
    "CurrentVersion\\Component Based Servicing\\RebootPending')"
)
WUA_TIMEOUT_S = 300.0
TIMEOUT_S = 60.0


def collect(ctx: ProbeContext) -> Patches:
    patches = Patches(manager="windows-update")
    text = ctx.output(HOTFIXES, timeout=TIMEOUT_S)
    if text is not None:
        hotfixes = parse_qfe(text)
        dates = [h.installed_on for h in hotfixes if h.installed_on is not None]
        if not hotfixes and text.strip():
            ctx.error("wmic qfe: unrecognised output")
        elif not dates:
            ctx.error("wmic qfe: no hotfix with a readable InstalledOn date")
        else:
            day = max(dates)
            patches.last_install = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    text = ctx.output(WUA, timeout=WUA_TIMEOUT_S)
    if text is not None:
        updates = parse_updates(text)
        if updates is None:
            ctx.error("Windows Update Agent: output is not the expected JSON")
        else:
            patches.pending = [
                PendingUpdate(
                    name=(u.title or ", ".join(u.kbs) or "")[:256] or None, security=u.security
                )
                for u in updates
            ]
            patches.pending_count = len(updates)
            patches.pending_security_count = sum(1 for u in updates if u.security)
    text = ctx.output(REBOOT, timeout=TIMEOUT_S)
    if text is not None:
        answer = text.strip().casefold()
        patches.reboot_required = {"true": True, "false": False}.get(answer)
        if patches.reboot_required is None:
            ctx.error(f"reboot check: unexpected answer {text.strip()[:80]!r}")
    return patches
