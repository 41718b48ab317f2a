"""WLAN on Windows: ``netsh wlan show interfaces`` (connected network, signal), ``netsh wlan
show profiles`` and ``netsh wlan show profile name=<p>`` (saved profiles). netsh's signal is
a quality percentage; it is converted to dBm with Microsoft's documented mapping
(agent.parsers.netsh_wlan.percent_to_dbm). Visible networks are not listed: ``show
networks`` needs location permission on Windows 11 24H2 and only repeats the last scan."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers import netsh_wlan, wlan_security
from agent.schema import Wlan, WlanInterface, WlanProfile

INTERFACES = ["netsh", "wlan", "show", "interfaces"]
PROFILES = ["netsh", "wlan", "show", "profiles"]
TIMEOUT_S = 15.0
MAX_PROFILES = 100


def profile_argv(name: str) -> list[str]:
    return ["netsh", "wlan", "show", "profile", f"name={name}"]


def collect(ctx: ProbeContext) -> Wlan | None:
    result = ctx.run(INTERFACES, timeout=TIMEOUT_S)
    interfaces: list[WlanInterface] | None = None
    if result.ok:
        parsed = netsh_wlan.parse_interfaces(result.stdout)
        interfaces = [_interface(i) for i in parsed]
        if not parsed and "wlansvc" not in result.stdout.casefold():
            # No interface block: either no WLAN hardware or output we do not know.
            ctx.error("netsh wlan show interfaces: no interface in the output")
    elif result.error == "not-found" or "wlansvc" in (result.stdout + result.stderr).casefold():
        interfaces = []  # no WLAN AutoConfig service: no wireless hardware in use
    else:
        ctx.error(result.describe())
    return Wlan(interfaces=interfaces, profiles=_profiles(ctx), visible=None)


def _interface(i: netsh_wlan.NetshInterface) -> WlanInterface:
    iface = WlanInterface(name=i.name, connected=i.connected)
    if not i.connected:
        return iface
    iface.ssid = i.ssid
    iface.bssid = i.bssid
    iface.security = wlan_security.from_windows(i.authentication, i.cipher)
    iface.cipher = i.cipher
    iface.channel = i.channel
    iface.frequency_mhz = netsh_wlan.channel_to_frequency(i.channel, i.band_ghz)
    iface.signal_dbm = netsh_wlan.percent_to_dbm(i.signal_percent)
    iface.rate_mbps = i.receive_mbps
    return iface


def _profiles(ctx: ProbeContext) -> list[WlanProfile] | None:
    text = ctx.output(PROFILES, timeout=TIMEOUT_S)
    if text is None:
        return None
    names = netsh_wlan.parse_profiles(text)
    if len(names) > MAX_PROFILES:
        ctx.error(f"{len(names)} WLAN profiles, only the first {MAX_PROFILES} are reported")
    profiles = []
    for name in names[:MAX_PROFILES]:
        out = ctx.output(profile_argv(name), timeout=TIMEOUT_S)
        detail = netsh_wlan.parse_profile(out) if out is not None else None
        if detail is None:
            if out is not None:
                ctx.error(f"netsh wlan show profile name={name}: unrecognised output")
            profiles.append(WlanProfile(ssid=None))
            continue
        profiles.append(
            WlanProfile(
                ssid=detail.ssid or detail.name,
                security=wlan_security.from_windows(detail.authentication, detail.cipher),
                autoconnect=detail.autoconnect,
            )
        )
    return profiles
