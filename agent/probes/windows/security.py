"""Security posture on Windows.

From the registry (agent.parsers.windows_settings says which value means what):

- Firewall: ``EnableFirewall`` of the Domain, Private and Public profiles, Group Policy first.
  When the registry cannot be read, ``Get-NetFirewallProfile`` (property names and True/False
  are never translated), then ``netsh advfirewall show currentprofile`` (German and English).
  The firewall counts as on when every profile read is enabled.
- SMBv1 (server ``SMB1`` value, client driver ``mrxsmb10``), RDP and NLA, and the machine
  inactivity limit as the screen lock policy.

BitLocker: ``manage-bde -status`` (German and English); when it fails or lists no volume,
``Get-BitLockerVolume -MountPoint C | Format-List`` (the system drive, enum values that are
never translated). Antivirus is not read: no source with real output is known yet.
"""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers import bitlocker_volume, netfirewall_profile, windows_settings
from agent.parsers.manage_bde import parse_status
from agent.parsers.netsh_advfirewall import FirewallProfile, parse_profiles
from agent.probes.windows import powershell
from agent.schema import DiskEncryption, Rdp, ScreenLock, Security

FIREWALL_PROFILES = powershell("Get-NetFirewallProfile")
FIREWALL = ["netsh", "advfirewall", "show", "currentprofile"]
MANAGE_BDE = ["manage-bde", "-status"]
BITLOCKER_VOLUME = powershell("Get-BitLockerVolume -MountPoint C | Format-List")
TIMEOUT_S = 60.0

SERVICES = "HKLM\\SYSTEM\\CurrentControlSet\\Services"
FIREWALL_LOCAL = SERVICES + "\\SharedAccess\\Parameters\\FirewallPolicy"
FIREWALL_POLICY = "HKLM\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall"
SMB_SERVER = SERVICES + "\\LanmanServer\\Parameters"
SMB1_CLIENT = SERVICES + "\\mrxsmb10"
TERMINAL_SERVER = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server"
RDP_TCP = TERMINAL_SERVER + "\\WinStations\\RDP-Tcp"
RDP_POLICY = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services"
SYSTEM_POLICY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"


def collect(ctx: ProbeContext) -> Security:
    security = Security(firewall_backend="windows-firewall")
    security.firewall = _firewall_registry(ctx)
    if security.firewall is None:
        profiles = _firewall_profiles(ctx)
        if profiles:
            security.firewall = all(p.enabled for p in profiles)
    security.disk_encryption = _disk_encryption(ctx)
    _smb1(ctx, security)
    _rdp(ctx, security)
    _screen_lock(ctx, security)
    ctx.error("antivirus: not read on Windows (no source with real output known)")
    return security


def _firewall_registry(ctx: ProbeContext) -> bool | None:
    states = []
    for local, policy in windows_settings.FIREWALL_PROFILES:
        local_values, local_ok = ctx.reg_read(f"{FIREWALL_LOCAL}\\{local}")
        policy_values, policy_ok = ctx.reg_read(f"{FIREWALL_POLICY}\\{policy}")
        if not (local_ok and policy_ok):
            return None
        state = windows_settings.firewall_profile(local_values, policy_values)
        if state is None:
            ctx.error(f"{FIREWALL_LOCAL}\\{local}: no EnableFirewall value")
            return None
        states.append(state)
    return all(states)


def _smb1(ctx: ProbeContext, security: Security) -> None:
    server, server_ok = ctx.reg_read(SMB_SERVER)
    client, client_ok = ctx.reg_read(SMB1_CLIENT)
    if not server_ok:
        return
    security.smb1 = windows_settings.smb1(server, client, client_ok)
    if security.smb1 is None:
        ctx.error("SMBv1: no SMB1 value (Windows' default depends on the optional feature)")


def _rdp(ctx: ProbeContext, security: Security) -> None:
    server, ok = ctx.reg_read(TERMINAL_SERVER)
    rdp_tcp, tcp_ok = ctx.reg_read(RDP_TCP)
    policy, policy_ok = ctx.reg_read(RDP_POLICY)
    if not (ok and policy_ok):
        return
    state = windows_settings.rdp(server, rdp_tcp if tcp_ok else None, policy)
    if state is None:
        ctx.error(f"{TERMINAL_SERVER}: no fDenyTSConnections value")
        return
    security.rdp = Rdp(enabled=state.enabled, nla=state.nla)


def _screen_lock(ctx: ProbeContext, security: Security) -> None:
    values, ok = ctx.reg_read(SYSTEM_POLICY)
    if not ok:
        return
    timeout = windows_settings.screen_lock_timeout(values)
    if timeout is None:
        ctx.error("screen lock: no machine inactivity limit; users' own settings are not read")
        return
    security.screen_lock = ScreenLock(enabled=True, timeout_s=timeout, password=True)


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
