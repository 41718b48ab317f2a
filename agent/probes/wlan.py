"""WLAN: the machine's wireless interfaces, saved profiles and the networks it can see.

Linux: interfaces are those with ``/sys/class/net/<if>/wireless`` (or ``phy80211``). The
facts come from NetworkManager's ``nmcli`` when it runs, otherwise from ``iw`` plus
``wpa_cli``. No wireless hardware is a fact (an empty list), not an error. Visible networks
come from the last scan result only: the agent never triggers a scan, which would disturb
the connection and take seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.context import ProbeContext
from agent.parsers import iw, nmcli, wlan_security, wpa_cli
from agent.runner import CommandResult
from agent.schema import Wlan, WlanInterface, WlanNetwork, WlanProfile

TIMEOUT_S = 10.0
# A laptop remembers tens of networks; beyond this many profiles the rest are left out
# rather than run one nmcli call each.
MAX_PROFILES = 200

NMCLI_DEVICES = ["nmcli", "-t", "-f", ",".join(nmcli.DEVICE_FIELDS), "device"]
NMCLI_WIFI_LIST = [
    "nmcli",
    "-t",
    "-f",
    ",".join(nmcli.WIFI_LIST_FIELDS),
    "device",
    "wifi",
    "list",
    "--rescan",
    "no",
]
NMCLI_CONNECTIONS = ["nmcli", "-t", "-f", ",".join(nmcli.CONNECTION_FIELDS), "connection", "show"]
IW_DEV = ["iw", "dev"]


def nmcli_profile_argv(uuid: str) -> list[str]:
    fields = ",".join(nmcli.PROFILE_PROPERTIES)
    return ["nmcli", "-t", "-f", fields, "connection", "show", "uuid", uuid]


def iw_link_argv(ifname: str) -> list[str]:
    return ["iw", "dev", ifname, "link"]


def iw_scan_dump_argv(ifname: str) -> list[str]:
    return ["iw", "dev", ifname, "scan", "dump"]


def wpa_cli_status_argv(ifname: str) -> list[str]:
    return ["wpa_cli", "-i", ifname, "status"]


def percent_to_dbm(percent: int | None) -> int | None:
    """Undo NetworkManager's dBm -> percent mapping (an approximation, not a measurement).

    NetworkManager computes ``percent = 100 - |clamp(dBm, -100, -40) + 40| * 100 / 60``
    (``nm_wifi_utils_level_to_quality`` in src/core/nm-core-utils.c), so the inverse is
    ``dBm = -100 + 0.6 * percent``. Values at the clamps (0 %, 100 %) mean "at most -100" /
    "at least -40"; a real dBm from ``iw link`` is preferred whenever there is one.
    """
    if percent is None:
        return None
    p = min(max(percent, 0), 100)
    return round(-100 + 0.6 * p)


def wireless_interfaces(ctx: ProbeContext) -> list[str]:
    names = []
    for name in ctx.listdir("/sys/class/net"):
        base = f"/sys/class/net/{name}"
        if ctx.exists(f"{base}/wireless") or ctx.exists(f"{base}/phy80211"):
            names.append(name)
    return names


def _missing(result: CommandResult) -> bool:
    return result.exit_code is None and result.error == "not-found"


def collect_linux(ctx: ProbeContext) -> Wlan | None:
    ifaces = wireless_interfaces(ctx)
    dev_result = ctx.run(NMCLI_DEVICES, timeout=TIMEOUT_S)
    nm_devices: list[nmcli.Device] | None = None
    if dev_result.ok:
        nm_devices = nmcli.parse_devices(dev_result.stdout)
    elif not _missing(dev_result):
        # nmcli is installed but NetworkManager does not answer (not running, no permission):
        # worth knowing, and the iw fallback below still runs.
        ctx.error(dev_result.describe())

    profiles = _nm_profiles(ctx) if nm_devices is not None else None
    if not ifaces:
        return Wlan(interfaces=[], profiles=profiles, visible=[])

    managed = {
        d.name: d
        for d in nm_devices or []
        if d.type == "wifi" and d.state is not None and d.state != "unmanaged"
    }
    interfaces: list[WlanInterface] = []
    visible: list[WlanNetwork] = []
    # A source of visible networks that failed makes the list partial; with no source
    # answering at all it is unknown (None), not "nothing in range" ([]).
    sources_failed = 0
    aps: list[nmcli.AccessPoint] | None = None
    if managed:
        aps_text = ctx.output(NMCLI_WIFI_LIST, timeout=TIMEOUT_S)
        if aps_text is None:
            sources_failed += 1
        else:
            aps = nmcli.parse_wifi_list(aps_text)
            visible.extend(_nm_network(ap) for ap in aps)

    iw_others = [name for name in ifaces if name not in managed]
    iw_ok = _iw_available(ctx, required=bool(iw_others))

    for name in ifaces:
        if name in managed:
            interfaces.append(_nm_interface(ctx, name, managed[name], aps, iw_ok))
            continue
        if not iw_ok:
            interfaces.append(WlanInterface(name=name))
            sources_failed += 1
            continue
        iface, nets = _iw_interface(ctx, name)
        interfaces.append(iface)
        if nets is None:
            sources_failed += 1
        else:
            visible.extend(nets)

    return Wlan(
        interfaces=interfaces,
        profiles=profiles,
        visible=visible if visible or not sources_failed else None,
    )


def _iw_available(ctx: ProbeContext, *, required: bool) -> bool:
    """Whether ``iw`` runs here; its absence is an error only when nothing else can answer."""
    result = ctx.run(IW_DEV, timeout=TIMEOUT_S)
    if result.ok:
        return True
    if required or not _missing(result):
        ctx.error(result.describe())
    return False


def _nm_interface(
    ctx: ProbeContext,
    name: str,
    device: nmcli.Device,
    aps: Sequence[nmcli.AccessPoint] | None,
    iw_ok: bool,
) -> WlanInterface:
    connected = nmcli.is_connected_state(device.state)
    iface = WlanInterface(name=name, connected=connected)
    if not connected:
        return iface
    active = [ap for ap in aps or [] if ap.device == name and ap.active]
    if len(active) == 1:
        ap = active[0]
        iface.ssid = ap.ssid
        iface.bssid = ap.bssid.lower() if ap.bssid else None
        iface.security = wlan_security.from_nm_ap(ap.security, ap.wpa_flags, ap.rsn_flags)
        iface.frequency_mhz = ap.frequency_mhz
        iface.channel = ap.channel or wlan_security.freq_to_channel(ap.frequency_mhz)
        iface.signal_dbm = percent_to_dbm(ap.signal_percent)
        iface.rate_mbps = ap.rate_mbps
    if iw_ok:
        link = _iw_link(ctx, name)
        if link is not None and link.connected:
            # iw reports what the driver measures; nmcli's percent is a lossy mapping of it.
            if link.signal_dbm is not None:
                iface.signal_dbm = link.signal_dbm
            if link.tx_rate_mbps is not None:
                iface.rate_mbps = link.tx_rate_mbps
            iface.ssid = iface.ssid or link.ssid
            iface.frequency_mhz = iface.frequency_mhz or link.frequency_mhz
            iface.channel = iface.channel or wlan_security.freq_to_channel(link.frequency_mhz)
    return iface


def _nm_network(ap: nmcli.AccessPoint) -> WlanNetwork:
    return WlanNetwork(
        ssid=ap.ssid,
        bssid=ap.bssid.lower() if ap.bssid else None,
        security=wlan_security.from_nm_ap(ap.security, ap.wpa_flags, ap.rsn_flags),
        signal_dbm=percent_to_dbm(ap.signal_percent),
        channel=ap.channel or wlan_security.freq_to_channel(ap.frequency_mhz),
    )


def _nm_profiles(ctx: ProbeContext) -> list[WlanProfile] | None:
    text = ctx.output(NMCLI_CONNECTIONS, timeout=TIMEOUT_S)
    if text is None:
        return None
    wifi = [c for c in nmcli.parse_connections(text) if c.type == "802-11-wireless"]
    if len(wifi) > MAX_PROFILES:
        ctx.error(f"{len(wifi)} wifi profiles, only the first {MAX_PROFILES} are reported")
    profiles: list[WlanProfile] = []
    for conn in wifi[:MAX_PROFILES]:
        out = ctx.output(nmcli_profile_argv(conn.uuid), timeout=TIMEOUT_S)
        parsed = nmcli.parse_profile(out) if out is not None else None
        if parsed is None:
            profiles.append(WlanProfile())
            continue
        if parsed.has_security_setting:
            security = wlan_security.from_nm_key_mgmt(parsed.key_mgmt or "", parsed.proto)
        else:
            security = "open"
        profiles.append(
            WlanProfile(ssid=parsed.ssid, security=security, autoconnect=parsed.autoconnect)
        )
    return profiles


def _iw_link(ctx: ProbeContext, name: str) -> iw.Link | None:
    text = ctx.output(iw_link_argv(name), timeout=TIMEOUT_S)
    if text is None:
        return None
    link = iw.parse_link(text)
    if link is None:
        ctx.error(f"iw dev {name} link: unrecognised output")
    return link


def _iw_interface(ctx: ProbeContext, name: str) -> tuple[WlanInterface, list[WlanNetwork] | None]:
    iface = WlanInterface(name=name)
    scan_text = ctx.output(iw_scan_dump_argv(name), timeout=TIMEOUT_S)
    bsses = iw.parse_scan(scan_text) if scan_text is not None else None
    link = _iw_link(ctx, name)
    if link is not None:
        iface.connected = link.connected
        if link.connected:
            iface.ssid = link.ssid
            iface.bssid = link.bssid.lower() if link.bssid else None
            iface.frequency_mhz = link.frequency_mhz
            iface.channel = wlan_security.freq_to_channel(link.frequency_mhz)
            iface.signal_dbm = link.signal_dbm
            iface.rate_mbps = link.tx_rate_mbps
    if iface.connected:
        status_text = ctx.output(wpa_cli_status_argv(name), timeout=TIMEOUT_S)
        status = wpa_cli.parse_status(status_text) if status_text is not None else None
        if status is not None and status.connected:
            iface.security = status.security
            iface.cipher = status.pairwise_cipher
            iface.ssid = iface.ssid or status.ssid
        if iface.security is None and bsses is not None and iface.bssid:
            # Without wpa_supplicant's word, the associated AP's beacon says what it accepts.
            own = [b for b in bsses if b.bssid == iface.bssid]
            if own:
                iface.security = own[0].security
    nets = None
    if bsses is not None:
        nets = [
            WlanNetwork(
                ssid=b.ssid,
                bssid=b.bssid,
                security=b.security,
                signal_dbm=b.signal_dbm,
                channel=b.channel,
            )
            for b in bsses
        ]
    return iface, nets
