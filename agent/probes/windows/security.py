"""Security posture on Windows.

- Firewall: ``Get-NetFirewallProfile`` (all profiles; property names and True/False are never
  translated, so it reads any language); when that cmdlet fails, ``netsh advfirewall show
  currentprofile`` (the profile(s) in force; German and English). The firewall counts as on
  when every profile read is enabled.
- BitLocker: ``manage-bde -status`` (German and English); when it fails or lists no volume,
  ``Get-BitLockerVolume -MountPoint C | Format-List`` (the system drive, enum values that are
  never translated).

Defender, SMBv1 and RDP/NLA are read through one PowerShell JSON query of our own
(Get-MpComputerStatus, Get-SmbServerConfiguration, registry values); no real output of it
exists, so no bundle has it and they are reported unknown there.
"""

from __future__ import annotations

import json
from typing import Any

from agent.context import ProbeContext
from agent.parsers import bitlocker_volume, netfirewall_profile
from agent.parsers.manage_bde import parse_status
from agent.parsers.netsh_advfirewall import FirewallProfile, parse_profiles
from agent.probes.windows import powershell
from agent.schema import Antivirus, DiskEncryption, Rdp, Security

FIREWALL_PROFILES = powershell("Get-NetFirewallProfile")
FIREWALL = ["netsh", "advfirewall", "show", "currentprofile"]
MANAGE_BDE = ["manage-bde", "-status"]
BITLOCKER_VOLUME = powershell("Get-BitLockerVolume -MountPoint C | Format-List")
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
    profiles = _firewall_profiles(ctx)
    if profiles:
        security.firewall = all(p.enabled for p in profiles)
    security.disk_encryption = _disk_encryption(ctx)
    _posture(ctx, security)
    return security


def _firewall_profiles(ctx: ProbeContext) -> list[FirewallProfile] | None:
    text = ctx.output(FIREWALL_PROFILES, timeout=TIMEOUT_S)
    if text is not None:
        profiles = netfirewall_profile.parse_profiles(text)
        if profiles and None not in (p.enabled for p in profiles):
            return profiles
        ctx.error("Get-NetFirewallProfile: unrecognised output")
    text = ctx.output(FIREWALL, timeout=TIMEOUT_S)
    if text is None:
        return None
    profiles = parse_profiles(text)
    if profiles and None not in (p.enabled for p in profiles):
        return profiles
    ctx.error("netsh advfirewall show currentprofile: unrecognised output")
    return None


def _disk_encryption(ctx: ProbeContext) -> list[DiskEncryption] | None:
    bde = ctx.run(MANAGE_BDE, timeout=TIMEOUT_S)
    if bde.ok:
        volumes = parse_status(bde.stdout)
        if volumes:
            return [
                DiskEncryption(mount=v.mount, encrypted=v.encrypted, method=v.method)
                for v in volumes
            ]
        ctx.error("manage-bde -status: no volume in the output")
    else:
        ctx.error(bde.describe())
    text = ctx.output(BITLOCKER_VOLUME, timeout=TIMEOUT_S)
    if text is None:
        return None
    found = bitlocker_volume.parse_volumes(text)
    if not found:
        ctx.error("Get-BitLockerVolume: no volume in the output")
        return None
    return [DiskEncryption(mount=v.mount, encrypted=v.encrypted, method=v.method) for v in found]


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
