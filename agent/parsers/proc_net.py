"""/proc/net/route and /proc/net/ipv6_route: the default gateway."""

from __future__ import annotations

import ipaddress
import socket
import struct


def default_gateway_v4(text: str) -> str | None:
    """The gateway of the default route with the lowest metric, if any."""
    best: tuple[int, str] | None = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        _iface, dest, gateway, flags, _ref, _use, metric, mask = fields[:8]
        # RTF_UP (0x1) and RTF_GATEWAY (0x2) must both be set for a usable default route.
        if dest != "00000000" or mask != "00000000" or int(flags, 16) & 0x3 != 0x3:
            continue
        addr = socket.inet_ntoa(struct.pack("<I", int(gateway, 16)))
        if best is None or int(metric) < best[0]:
            best = (int(metric), addr)
    return best[1] if best else None


def default_gateway_v6(text: str) -> str | None:
    best: tuple[int, str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        dest, dest_len, _src, _src_len, nexthop, metric, _ref, _use, flags, iface = fields[:10]
        if dest != "0" * 32 or dest_len != "00" or iface == "lo":
            continue
        if int(flags, 16) & 0x3 != 0x3:
            continue
        addr = str(ipaddress.IPv6Address(bytes.fromhex(nexthop)))
        if best is None or int(metric, 16) < best[0]:
            best = (int(metric, 16), addr)
    return best[1] if best else None
