"""Network: interfaces, default gateway, DNS servers and listening sockets."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import psutil

from agent.context import ProbeContext
from agent.parsers.proc_net import default_gateway_v4, default_gateway_v6
from agent.parsers.resolv_conf import nameservers
from agent.schema import Interface, InterfaceKind, ListeningSocket, Network

# ARPHRD_* from linux/if_arp.h, as /sys/class/net/<if>/type gives them.
_ARPHRD_ETHER = 1
_ARPHRD_LOOPBACK = 772
_ARPHRD_IEEE80211 = {801, 802, 803}
# systemd-resolved's stub listener: the real upstream servers are in its own resolv.conf.
_RESOLVED_STUB = {"127.0.0.53", "127.0.0.54"}


def collect_linux(ctx: ProbeContext) -> Network:
    net = Network()
    net.interfaces = _interfaces(ctx)
    net.default_gateway = _gateway(ctx)
    net.dns_servers = _dns(ctx)
    net.listening = listening(ctx)
    return net


def _if_facts() -> dict[str, Any]:
    addrs = {
        name: [{"family": int(a.family), "address": a.address, "netmask": a.netmask} for a in al]
        for name, al in psutil.net_if_addrs().items()
    }
    stats = {name: {"up": s.isup, "speed": s.speed} for name, s in psutil.net_if_stats().items()}
    return {"addrs": addrs, "stats": stats}


def _cidr(address: str, netmask: str | None) -> str:
    """``address/prefix``; psutil gives IPv6 netmasks as ffff:ffff:: which ipaddress refuses."""
    address = address.split("%", 1)[0]  # drop the IPv6 zone (fe80::1%eth0)
    if not netmask:
        return address
    try:
        mask = ipaddress.ip_address(netmask)
        prefix = bin(int(mask)).count("1")
        return str(ipaddress.ip_interface(f"{address}/{prefix}"))
    except ValueError:
        return address


def _kind(ctx: ProbeContext, name: str) -> InterfaceKind:
    base = f"/sys/class/net/{name}"
    arphrd = ctx.attr(f"{base}/type")
    if arphrd == str(_ARPHRD_LOOPBACK):
        return "loopback"
    if ctx.exists(f"{base}/wireless") or ctx.exists(f"{base}/phy80211"):
        return "wlan"
    if arphrd is not None and int(arphrd) in _ARPHRD_IEEE80211:
        return "wlan"
    # Bridges, veths, tunnels and VPNs have no device link; physical NICs have one.
    if not ctx.exists(f"{base}/device"):
        return "virtual"
    return "ethernet" if arphrd == str(_ARPHRD_ETHER) else "other"


# Address families as psutil reports them on the machine that recorded the facts: a bundle
# from Windows or macOS replays here, so the numbers are theirs, not this host's.
_LINK_FAMILIES = {-1, 17, 18}  # psutil.AF_LINK on Windows, Linux, macOS
_IP_FAMILIES = {2, 10, 23, 30}  # AF_INET; AF_INET6 on Linux, Windows, macOS


def _mac(address: str) -> str | None:
    """A MAC address in the schema's form; None for none (loopback, tunnels) or all zeros."""
    mac = address.replace("-", ":").lower()  # Windows writes 00-11-22-33-44-55
    return mac if len(mac) == 17 and mac != "00:00:00:00:00:00" else None


def interfaces(
    ctx: ProbeContext, kind: Callable[[str], InterfaceKind | None]
) -> list[Interface] | None:
    """The interfaces from psutil (recorded as a fact); ``kind`` names each one's kind."""
    facts = ctx.fact("psutil.net_if", _if_facts)
    if facts is None:
        return None
    result = []
    for name in sorted(set(facts["addrs"]) | set(facts["stats"])):
        mac = None
        addresses = []
        for a in facts["addrs"].get(name, []):
            if a["family"] in _LINK_FAMILIES:
                mac = _mac(str(a["address"]))
            elif a["family"] in _IP_FAMILIES:
                addresses.append(_cidr(str(a["address"]), a["netmask"]))
        stat = facts["stats"].get(name, {})
        result.append(
            Interface(
                name=name,
                mac=mac,
                addresses=addresses,
                up=stat.get("up"),
                # psutil reports 0 when the driver does not know (virtual NICs, Wi-Fi).
                speed_mbps=stat.get("speed") or None,
                kind=kind(name),
            )
        )
    return result


def _interfaces(ctx: ProbeContext) -> list[Interface] | None:
    return interfaces(ctx, lambda name: _kind(ctx, name))


def _gateway(ctx: ProbeContext) -> str | None:
    v4 = ctx.text("/proc/net/route")
    gateway = default_gateway_v4(v4) if v4 else None
    if gateway is None:
        v6 = ctx.text("/proc/net/ipv6_route")
        gateway = default_gateway_v6(v6) if v6 else None
    if v4 is None:
        ctx.error("/proc/net/route not readable")
    return gateway


def _dns(ctx: ProbeContext) -> list[str] | None:
    text = ctx.text("/etc/resolv.conf", required=True)
    if text is None:
        return None
    servers = nameservers(text)
    if servers and set(servers) <= _RESOLVED_STUB:
        upstream = ctx.text("/run/systemd/resolve/resolv.conf")
        if upstream is not None:
            servers = nameservers(upstream)
    return servers


def _listening_facts() -> list[dict[str, Any]]:
    names: dict[int, str | None] = {}
    sockets = []
    for c in psutil.net_connections(kind="inet"):
        tcp = c.type == socket.SOCK_STREAM
        # TCP listens in LISTEN state; a bound UDP socket without a peer is "listening" too.
        if (tcp and c.status != psutil.CONN_LISTEN) or (not tcp and c.raddr):
            continue
        if not c.laddr:
            continue
        process = None
        if c.pid is not None:
            if c.pid not in names:
                try:
                    # The process name only: command lines may hold personal data (DSGVO).
                    names[c.pid] = psutil.Process(c.pid).name()
                except psutil.Error:
                    names[c.pid] = None
            process = names[c.pid]
        v6 = c.family == socket.AF_INET6
        sockets.append(
            {
                "proto": ("tcp" if tcp else "udp") + ("6" if v6 else ""),
                "address": c.laddr.ip,
                "port": c.laddr.port,
                "process": process,
            }
        )
    return sockets


def listening(ctx: ProbeContext) -> list[ListeningSocket] | None:
    facts = ctx.fact("psutil.net_connections", _listening_facts)
    if facts is None:
        return None
    unique = {(s["proto"], s["address"], s["port"]): s for s in facts}
    return [ListeningSocket(**s) for _, s in sorted(unique.items(), key=lambda kv: kv[0])]
