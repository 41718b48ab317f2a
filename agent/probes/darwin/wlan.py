"""WLAN on macOS from ``system_profiler -json SPAirPortDataType``: the connected network with
its security mode and signal (a real dBm), and the networks of the last scan."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers import system_profiler as sp
from agent.parsers import wlan_security
from agent.probes.darwin.system import TIMEOUT_S, profiler_argv
from agent.schema import Wlan, WlanInterface, WlanNetwork


def _frequency(channel: int | None, band: float | None) -> int | None:
    if channel is None or band is None:
        return None
    if band < 3:
        return 2484 if channel == 14 else 2407 + 5 * channel
    return 5000 + 5 * channel if band < 5.9 else 5950 + 5 * channel


def collect(ctx: ProbeContext) -> Wlan | None:
    text = ctx.output(profiler_argv("SPAirPortDataType"), timeout=TIMEOUT_S)
    if text is None:
        return None
    try:
        parsed = sp.parse_airport(text)
    except sp.ProfilerError as exc:
        ctx.error(f"SPAirPortDataType: {exc}")
        return None
    interfaces: list[WlanInterface] = []
    visible: list[WlanNetwork] = []
    for iface in parsed:
        out = WlanInterface(name=iface.name, connected=iface.connected)
        cur = iface.current
        if cur is not None:
            out.ssid = cur.ssid
            out.security = wlan_security.from_macos(cur.security_mode)
            out.channel = cur.channel
            out.frequency_mhz = _frequency(cur.channel, cur.band_ghz)
            out.signal_dbm = cur.signal_dbm
            out.rate_mbps = cur.rate_mbps
        interfaces.append(out)
        visible.extend(
            WlanNetwork(
                ssid=n.ssid,
                security=wlan_security.from_macos(n.security_mode),
                signal_dbm=n.signal_dbm,
                channel=n.channel,
            )
            for n in iface.others
        )
    # macOS keeps its known networks in the keychain-backed preferences, not in this output.
    return Wlan(interfaces=interfaces, profiles=None, visible=visible)
