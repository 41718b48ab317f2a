"""Network discovery: which devices answer on the local network, agent or not.

:func:`discover` sends one ARP request to every address of a CIDR (and nowhere else),
rate-limited, and gives each device that answers with its IP, MAC, the MAC's vendor (IEEE
OUI registry shipped with netaddr) and which of a few TCP ports accept a connection. Raw
sockets need CAP_NET_RAW; scapy is imported only when a sweep runs, so importing the agent
stays light.

This module is the engine only: the command (``inventar-agent discover``) is in
agent/cli_service.py, sending a result in agent/transport.py, the service's scheduled
discovery in agent/scheduler.py.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import ipaddress
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent import oui

log = logging.getLogger(__name__)

DEFAULT_PORTS = (22, 23, 80, 443, 445, 3389, 515, 631, 9100)
# Networks larger than this (more than 1022 addresses) need --allow-large; never above /16.
MAX_PREFIX = 22
LARGEST_PREFIX = 16
DEFAULT_RATE = 200.0  # ARP requests per second
DEFAULT_WAIT = 2.0  # seconds to wait for late answers after the last request
CONNECT_TIMEOUT = 1.0
ETH_P_ARP = 0x0806
EX_NOPERM = 77


class DiscoveryError(Exception):
    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass
class Device:
    ip: str
    mac: str
    vendor: str | None
    open_ports: list[int] = field(default_factory=list)


@dataclass
class Result:
    interface: str
    cidr: str
    started_at: str
    finished_at: str
    devices: list[Device]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_ports(text: str) -> tuple[int, ...]:
    ports = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            raise DiscoveryError(f"invalid port {part!r}: ports are 1..65535, e.g. 22,80,443")
        ports.append(int(part))
    if len(ports) > 64:
        raise DiscoveryError("at most 64 ports")
    return tuple(sorted(set(ports)))


def check_network(cidr: str, allow_large: bool = False) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise DiscoveryError(f"{cidr!r} is not a network such as 192.168.1.0/24") from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise DiscoveryError("ARP discovery covers IPv4 networks only")
    if network.prefixlen < LARGEST_PREFIX:
        raise DiscoveryError(f"{network} is too large: at most a /{LARGEST_PREFIX}")
    if network.prefixlen < MAX_PREFIX and not allow_large:
        raise DiscoveryError(
            f"{network} has {network.num_addresses} addresses; networks larger than "
            f"/{MAX_PREFIX} need --allow-large"
        )
    return network


def check_interface(interface: str) -> None:
    if not interface or "/" in interface or interface in (".", ".."):
        raise DiscoveryError(f"invalid interface name {interface!r}")
    if not Path("/sys/class/net", interface).exists():
        raise DiscoveryError(f"no network interface {interface!r} here")


def check_raw_socket() -> None:
    """Fails with a clear message when this process may not open raw sockets."""
    if not hasattr(socket, "AF_PACKET"):
        raise DiscoveryError("network discovery needs Linux (AF_PACKET raw sockets)")
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except PermissionError:
        raise DiscoveryError(
            "network discovery needs the CAP_NET_RAW capability (raw sockets for ARP): run it "
            "as root, or give the service AmbientCapabilities=CAP_NET_RAW",
            EX_NOPERM,
        ) from None
    sock.close()


def arp_sweep(
    interface: str,
    network: ipaddress.IPv4Network,
    *,
    rate: float = DEFAULT_RATE,
    wait: float = DEFAULT_WAIT,
) -> list[tuple[str, str]]:
    """(ip, mac) of every address of ``network`` that answers an ARP request on
    ``interface``; requests go only to the network's addresses, ``rate`` per second."""
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.config import conf  # noqa: PLC0415
    from scapy.layers.l2 import ARP, Ether  # noqa: PLC0415
    from scapy.sendrecv import srp  # noqa: PLC0415

    conf.verb = 0
    targets = {str(ip) for ip in (network.hosts() if network.prefixlen < 31 else network)}
    own_mac = _own_mac(interface)
    packets = [Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=ip) for ip in sorted(targets, key=_ip_key)]
    answered, _unanswered = srp(
        packets, iface=interface, timeout=wait, inter=1.0 / rate, verbose=0, retry=0
    )
    found: dict[tuple[str, str], None] = {}
    for _sent, received in answered:
        arp = received[ARP]
        ip, mac = str(arp.psrc), str(arp.hwsrc).lower()
        if ip in targets and mac != own_mac:
            found[(ip, mac)] = None
    return sorted(found, key=lambda pair: _ip_key(pair[0]))


def _ip_key(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def _own_mac(interface: str) -> str | None:
    try:
        return Path("/sys/class/net", interface, "address").read_text().strip().lower()
    except OSError:
        return None


def _port_open(ip: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe_ports(
    ips: Sequence[str], ports: Sequence[int], timeout: float = CONNECT_TIMEOUT
) -> dict[str, list[int]]:
    """TCP connect to each (ip, port): which accept. Only the devices that answered ARP."""
    result: dict[str, list[int]] = {ip: [] for ip in ips}
    if not ips or not ports:
        return result
    pairs = [(ip, port) for ip in ips for port in ports]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(pairs))) as pool:
        for (ip, port), is_open in zip(
            pairs, pool.map(lambda p: _port_open(p[0], p[1], timeout), pairs), strict=True
        ):
            if is_open:
                result[ip].append(port)
    return result


def discover(
    interface: str,
    cidr: str,
    *,
    ports: Sequence[int] = DEFAULT_PORTS,
    allow_large: bool = False,
    rate: float = DEFAULT_RATE,
    wait: float = DEFAULT_WAIT,
) -> Result:
    network = check_network(cidr, allow_large)
    check_interface(interface)
    check_raw_socket()
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    try:
        pairs = arp_sweep(interface, network, rate=rate, wait=wait)
    except PermissionError:
        check_raw_socket()
        raise
    except OSError as exc:
        raise DiscoveryError(f"ARP sweep on {interface} failed: {exc}", 1) from None
    open_ports = probe_ports(sorted({ip for ip, _ in pairs}, key=_ip_key), ports)
    devices = [Device(ip, mac, oui.vendor(mac), list(open_ports.get(ip, []))) for ip, mac in pairs]
    log.info(
        "discovery on %s %s: %d device(s) in %.1f s",
        interface,
        network,
        len(devices),
        time.monotonic() - t0,
    )
    return Result(
        interface=interface,
        cidr=str(network),
        started_at=started.isoformat(timespec="seconds"),
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        devices=devices,
    )
