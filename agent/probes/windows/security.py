"""Security posture on Windows: firewall of the profile in force (``netsh advfirewall show
currentprofile``) and BitLocker (``manage-bde -status``), both localized (German and English).

Defender, screen lock, SMBv1 and RDP/NLA are read through PowerShell as JSON
(Get-MpComputerStatus, Get-SmbServerConfiguration, registry values); no captured real output
of those commands is in the fixtures yet, so they are reported unknown when absent.
"""

from __future__ import annotations

import json
from typing import Any

from agent.context import ProbeContext
from agent.parsers.manage_bde import parse_status
from agent.parsers.netsh_advfirewall import parse_profiles
from agent.probes.windows import powershell
from agent.schema import Antivirus, DiskEncryption, Rdp, Security

FIREWALL = ["netsh", "advfirewall", "show", "currentprofile"]
MANAGE_BDE = ["manage-bde", "-status"]
POSTURE = powershell(
    "$r=@{};"
    "try{$m=Get-MpComputerStatus;$r.defender=@{realtime=$m.RealTimeProtectionEnabled;"
    "updated=$m.AntivirusSignatureLastUpdated.ToUniversalTime().ToString('o')}}catch{};"
    "try{$r.smb1=(Get-SmbServerConfiguration).EnableSMB1Protocol}catch{};"
    "$ts=Get-ItemProperty 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server' -EA 0;"
    "$rdp=Get-ItemProperty 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\"
    "WinStations\\RDP-Tcp' -EA 0;"
    "$r.rdp=@{deny=$ts.fDenyTSConnections;nla=$rdp.UserAuthentication};"
    "$r|ConvertTo-Json -Compress"
)
TIMEOUT_S = 60.0


def collect(ctx: ProbeContext) -> Security:
    security = Security(firewall_backend="windows-firewall")
    text = ctx.output(FIREWALL, timeout=TIMEOUT_S)
    if text is not None:
        profiles = parse_profiles(text)
        states = [p.enabled for p in profiles]
        if not profiles or None in states:
            ctx.error("netsh advfirewall show currentprofile: unrecognised output")
        else:
            security.firewall = all(states)
    bde = ctx.run(MANAGE_BDE, timeout=TIMEOUT_S)
    if bde.ok:
        volumes = parse_status(bde.stdout)
        if not volumes:
            ctx.error("manage-bde -status: no volume in the output")
        security.disk_encryption = [
            DiskEncryption(mount=v.mount, encrypted=v.encrypted, method=v.method) for v in volumes
        ] or None
    else:
        ctx.error(bde.describe())
    _posture(ctx, security)
    return security


def _posture(ctx: ProbeContext, security: Security) -> None:
    text = ctx.output(POSTURE, timeout=TIMEOUT_S)
    if text is None:
        return
    try:
        data: Any = json.loads(text)
    except ValueError:
        ctx.error("posture script: output is not JSON")
        return
    if not isinstance(data, dict):
        ctx.error("posture script: unexpected JSON")
        return
    defender = data.get("defender")
    if isinstance(defender, dict):
        security.antivirus = [
            Antivirus(
                name="Microsoft Defender Antivirus",
                realtime=defender.get("realtime"),
                signatures_updated=defender.get("updated"),
            )
        ]
    if isinstance(data.get("smb1"), bool):
        security.smb1 = data["smb1"]
    rdp = data.get("rdp")
    if isinstance(rdp, dict) and rdp.get("deny") is not None:
        security.rdp = Rdp(
            enabled=rdp["deny"] == 0,
            nla=None if rdp.get("nla") is None else rdp["nla"] == 1,
        )
