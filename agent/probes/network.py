"""Network: interfaces, default gateway, DNS servers and listening sockets."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
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


# Listening sockets come from the kernel's sock_diag netlink interface (what `ss -l` uses),
# asked for listening TCP and unconnected UDP sockets only. psutil.net_connections, and the
# /proc/net tables it reads, render and decode every socket of the machine — thousands on a
# busy one (TIME_WAIT of a browser, a build), 20 ms of CPU and more for each light report.
# The tables stay the fallback where netlink is not available.
_NETLINK_SOCK_DIAG = 16 // 4  # NETLINK_SOCK_DIAG = 4 (linux/netlink.h)
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN_STATE, _TCP_CLOSE_STATE = 10, 7  # include/net/tcp_states.h
_NLMSG = struct.Struct("=LHHLL")  # nlmsghdr: len, type, flags, seq, pid
# inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid (48 bytes)
_DIAG_REQ = struct.Struct("=BBBxI48x")
# inet_diag_msg: family, state, timer, retrans, sockid (sport, dport big-endian, src, dst,
# if, cookie), expires, rqueue, wqueue, uid, inode
_DIAG_MSG = struct.Struct("=BBBB2H16s16sI8xIIIII")
_QUERIES = (
    ("tcp", socket.AF_INET, socket.IPPROTO_TCP, _TCP_LISTEN_STATE),
    ("tcp6", socket.AF_INET6, socket.IPPROTO_TCP, _TCP_LISTEN_STATE),
    ("udp", socket.AF_INET, socket.IPPROTO_UDP, _TCP_CLOSE_STATE),
    ("udp6", socket.AF_INET6, socket.IPPROTO_UDP, _TCP_CLOSE_STATE),
)


def _sock_diag() -> list[tuple[str, str, int, int]]:
    """(proto, address, port, inode) of the listening sockets, by netlink; OSError if the
    kernel does not answer."""
    found: list[tuple[str, str, int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        for seq, (proto, family, protocol, state) in enumerate(_QUERIES, start=1):
            request = _DIAG_REQ.pack(family, protocol, 0, 1 << state)
            header = _NLMSG.pack(
                _NLMSG.size + len(request),
                _SOCK_DIAG_BY_FAMILY,
                _NLM_F_REQUEST | _NLM_F_DUMP,
                seq,
                0,
            )
            nl.send(header + request)
            done = False
            while not done:
                data = nl.recv(65536)
                offset = 0
                while offset + _NLMSG.size <= len(data):
                    length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
                    if length < _NLMSG.size:
                        raise OSError("sock_diag: malformed netlink message")
                    if kind == _NLMSG_DONE:
                        done = True
                        break
                    if kind == _NLMSG_ERROR:
                        raise OSError("sock_diag: the kernel refused the request")
                    body = offset + _NLMSG.size
                    fields = _DIAG_MSG.unpack_from(data, body)
                    msg_family, sport, src, inode = fields[0], fields[4], fields[6], fields[13]
                    raw = src[:4] if msg_family == socket.AF_INET else src
                    address = socket.inet_ntop(msg_family, raw)
                    found.append((proto, address, socket.ntohs(sport), inode))
                    offset += (length + 3) & ~3
    return found


_PROC_NET = (
    ("/proc/net/tcp", "tcp", socket.AF_INET),
    ("/proc/net/tcp6", "tcp6", socket.AF_INET6),
    ("/proc/net/udp", "udp", socket.AF_INET),
    ("/proc/net/udp6", "udp6", socket.AF_INET6),
)


def _decode_address(hex_address: str, family: int) -> tuple[str, int]:
    """ "0100007F:0016" -> ("127.0.0.1", 22): the kernel prints each 32-bit word of the
    address in host (little-endian) order, the port big-endian."""
    host, _, port = hex_address.partition(":")
    raw = bytes.fromhex(host)
    if family == socket.AF_INET:
        packed = raw[::-1]
    else:
        packed = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(family, packed), int(port, 16)


def _proc_net() -> list[tuple[str, str, int, int]]:
    """The same from /proc/net/{tcp,udp}{,6}: the state column is checked first, so that
    only the listening sockets are decoded."""
    found: list[tuple[str, str, int, int]] = []
    for path, proto, family in _PROC_NET:
        try:
            with open(path, encoding="ascii") as table:
                next(table, None)  # the header
                for line in table:
                    fields = line.split(None, 10)
                    if len(fields) < 10:
                        continue
                    local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                    if proto.startswith("tcp"):
                        if int(state, 16) != _TCP_LISTEN_STATE:
                            continue
                    elif remote.strip("0:") != "":
                        continue  # a UDP socket with a peer is not listening
                    address, port = _decode_address(local, family)
                    found.append((proto, address, port, int(inode)))
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
    return found


# inode -> (pid, fd) where a listening socket was last found: checked with one readlink
# each, so that the scan of every process's descriptors runs only when a listener is new.
_owner_memo: dict[int, tuple[int, str]] = {}
# Listening sockets no readable process holds (the kernel's, another namespace's): not
# searched for again while they exist.
_unowned: set[int] = set()


def _socket_owners(inodes: set[int]) -> dict[int, int]:
    """inode -> pid of the process holding that socket (only processes we may read)."""
    owners: dict[int, int] = {}
    for inode in inodes:
        memo = _owner_memo.get(inode)
        if memo is None:
            continue
        try:
            if os.readlink(f"/proc/{memo[0]}/fd/{memo[1]}") == f"socket:[{inode}]":  # noqa: PTH115
                owners[inode] = memo[0]
        except OSError:
            pass
    missing = {
        f"socket:[{inode}]": inode
        for inode in inodes
        if inode not in owners and inode not in _unowned
    }
    if not missing:
        return owners
    for pid_name in os.listdir("/proc"):  # noqa: PTH208  (names only, thousands of fds)
        if not pid_name.isdigit():
            continue
        fd_dir = f"/proc/{pid_name}/fd"
        try:
            fds = os.listdir(fd_dir)  # noqa: PTH208
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")  # noqa: PTH115
            except OSError:
                continue
            if target in missing:
                inode = missing.pop(target)
                owners[inode] = int(pid_name)
                _owner_memo[inode] = (int(pid_name), fd)
        if not missing:
            break
    _unowned.intersection_update(inodes)
    _unowned.update(missing.values())
    for stale in set(_owner_memo) - inodes:
        del _owner_memo[stale]
    return owners


def _listening_facts() -> list[dict[str, Any]]:
    try:
        found = _sock_diag()
    except OSError:
        found = _proc_net()
    owners = _socket_owners({inode for *_, inode in found if inode != 0})
    names: dict[int, str | None] = {}
    sockets = []
    for proto, address, port, inode in found:
        process = None
        pid = owners.get(inode)
        if pid is not None:
            if pid not in names:
                try:
                    # The process name only: command lines may hold personal data (DSGVO).
                    names[pid] = psutil.Process(pid).name()
                except psutil.Error:
                    names[pid] = None
            process = names[pid]
        sockets.append({"proto": proto, "address": address, "port": port, "process": process})
    return sockets


def listening(ctx: ProbeContext) -> list[ListeningSocket] | None:
    facts = ctx.fact("psutil.net_connections", _listening_facts)
    if facts is None:
        return None
    unique = {(s["proto"], s["address"], s["port"]): s for s in facts}
    return [ListeningSocket(**s) for _, s in sorted(unique.items(), key=lambda kv: kv[0])]
