"""Network on Windows and macOS: psutil's interfaces and listening sockets (recorded as
library calls, so they replay). Interface kinds are not guessed from names."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.probes.network import _cidr, _if_facts, _listening_facts
from agent.schema import Interface, ListeningSocket, Network


def collect(ctx: ProbeContext) -> Network:
    net = Network()
    facts = ctx.fact("psutil.net_if", _if_facts)
    if facts is not None:
        interfaces = []
        for name in sorted(set(facts["addrs"]) | set(facts["stats"])):
            mac, addresses = None, []
            for a in facts["addrs"].get(name, []):
                address = str(a["address"])
                if (
                    a["netmask"] is None
                    and (":" in address or "-" in address)
                    and len(address) == 17
                ):
                    mac = address.replace("-", ":").lower()
                elif a["family"] in (2, 23, 30, 10):  # AF_INET, AF_INET6 (Windows 23, macOS 30)
                    addresses.append(_cidr(address, a["netmask"]))
            stat = facts["stats"].get(name, {})
            interfaces.append(
                Interface(
                    name=name,
                    mac=mac,
                    addresses=addresses,
                    up=stat.get("up"),
                    speed_mbps=stat.get("speed") or None,
                    kind="loopback" if name.lower().startswith(("lo", "loopback")) else None,
                )
            )
        net.interfaces = interfaces
    sockets = ctx.fact("psutil.net_connections", _listening_facts)
    if sockets is not None:
        unique = {(s["proto"], s["address"], s["port"]): s for s in sockets}
        net.listening = [
            ListeningSocket(**s) for _, s in sorted(unique.items(), key=lambda kv: kv[0])
        ]
    return net
