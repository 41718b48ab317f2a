"""psutil-style facts of a remote Linux host, read from its /proc and /sys and a few commands.

The probes ask for library calls by name (``ctx.fact("psutil.virtual_memory", …)``); on the
agent the callable runs locally. Over SSH that callable would describe the *collector*, so
:class:`ProcCalls` answers each known name the way psutil computes it on Linux, from the files
and commands of the machine behind the runner and file source, and refuses every other name
(:class:`agent.sources.NotRecorded`: the probe records an error, the field stays unknown).

It works on any runner and file source, so a test compares its answers with psutil's on this
very machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Callable
from typing import Any

import psutil

from agent.files import FileSource, read_text
from agent.runner import Runner
from agent.sources import JSON, NotRecorded

# psutil.disk_partitions(all=False) also keeps zfs, which /proc/filesystems lists as nodev.
_EXTRA_PHYSICAL_FSTYPES = frozenset({"zfs"})
_IFF_UP = 0x1
_TCP_LISTEN = "0A"
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class ProcCalls:
    """A :class:`agent.context.CallSource` for a Linux machine seen through runner + files."""

    def __init__(self, runner: Runner, files: FileSource) -> None:
        self.runner = runner
        self.files = files
        self._answers: dict[str, Callable[[], JSON]] = {
            "psutil.cpu_count": self.cpu_count,
            "psutil.virtual_memory": self.memory_total,
            "psutil.disk_partitions": self.volumes,
            "psutil.net_if": self.net_if,
            "psutil.net_connections": self.listening,
            "socket.getfqdn": self.fqdn,
            "platform.machine": self.machine,
        }

    def call(self, name: str, fn: Callable[[], JSON]) -> JSON:
        answer = self._answers.get(name)
        if answer is None:
            raise NotRecorded(f"{name}: not available for a remote host")
        return answer()

    # -- helpers ------------------------------------------------------------------------

    def _text(self, path: str) -> str:
        return read_text(self.files, path)

    def _output(self, argv: list[str]) -> str:
        result = self.runner.run(argv, timeout=30)
        if not result.ok:
            raise OSError(result.describe())
        return result.stdout

    # -- CPU, memory ----------------------------------------------------------------------

    def cpu_count(self) -> dict[str, int | None]:
        cpuinfo = self._text("/proc/cpuinfo")
        logical: int | None = None
        try:
            logical = int(self._output(["getconf", "_NPROCESSORS_ONLN"]).strip())
        except (OSError, ValueError):
            lines = cpuinfo.splitlines()
            logical = sum(1 for line in lines if line.startswith("processor")) or None
        return {"logical": logical, "physical": self._cores(cpuinfo)}

    def _cores(self, cpuinfo: str) -> int | None:
        """As psutil: distinct core_cpus_list (or thread_siblings_list) of the online CPUs,
        else physical id -> cpu cores from /proc/cpuinfo."""
        base = "/sys/devices/system/cpu"
        try:
            cpus = [n for n in self.files.listdir(base) if re.fullmatch(r"cpu\d+", n)]
        except OSError:
            cpus = []
        for attr in ("core_cpus_list", "thread_siblings_list"):
            seen = set()
            for cpu in cpus:
                try:
                    seen.add(self._text(f"{base}/{cpu}/topology/{attr}").strip())
                except OSError:
                    continue
            if seen:
                return len(seen)
        mapping: dict[int, int] = {}
        current: dict[str, int] = {}
        for raw in [*cpuinfo.splitlines(), ""]:
            line = raw.strip().lower()
            if not line:
                if "physical id" in current and "cpu cores" in current:
                    mapping[current["physical id"]] = current["cpu cores"]
                current = {}
            elif line.startswith(("physical id", "cpu cores")):
                key, _, value = line.partition(":")
                with contextlib.suppress(ValueError):
                    current[key.strip()] = int(value)
        return sum(mapping.values()) or None

    def memory_total(self) -> int:
        for line in self._text("/proc/meminfo").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
        raise OSError("/proc/meminfo has no MemTotal line")

    # -- volumes ---------------------------------------------------------------------------

    def volumes(self) -> list[dict[str, Any]]:
        """psutil.disk_partitions(all=False) + disk_usage, as the hardware probe's facts."""
        physical = set(_EXTRA_PHYSICAL_FSTYPES)
        for line in self._text("/proc/filesystems").splitlines():
            parts = line.split()
            if parts and parts[0] != "nodev":
                physical.add(parts[0])
        from agent.probes.hardware import _SKIP_FSTYPES, is_personal_mount  # noqa: PLC0415

        mounts: list[tuple[str, str]] = []
        for line in self._text("/proc/self/mounts").splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            device, mount, fstype = (_unescape(f) for f in fields[:3])
            if not device or fstype not in physical:
                continue
            if fstype in _SKIP_FSTYPES or fstype.startswith("fuse.") or is_personal_mount(mount):
                continue
            mounts.append((mount, fstype))
        usage = self._usage([m for m, _ in mounts])
        return [
            {
                "mount": mount,
                "fstype": fstype,
                "size": usage.get(mount, (None, None))[0],
                "free": usage.get(mount, (None, None))[1],
            }
            for mount, fstype in mounts
        ]

    def _usage(self, mounts: list[str]) -> dict[str, tuple[int, int]]:
        """statvfs of each mount point: total = f_blocks × f_frsize, free = f_bavail × f_frsize."""
        if not mounts:
            return {}
        result = self.runner.run(
            ["stat", "-f", "-c", "%S %b %a %n", "--", *dict.fromkeys(mounts)], timeout=30
        )
        usage = {}
        for line in result.stdout.splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4 and all(p.isdigit() for p in parts[:3]):
                frsize, blocks, avail = (int(p) for p in parts[:3])
                usage[parts[3]] = (blocks * frsize, avail * frsize)
        return usage

    # -- network ---------------------------------------------------------------------------

    def net_if(self) -> dict[str, Any]:
        """psutil.net_if_addrs() and net_if_stats() as the network probe's facts."""
        base = "/sys/class/net"
        addrs: dict[str, list[dict[str, Any]]] = {}
        stats: dict[str, dict[str, Any]] = {}
        for name in self.files.listdir(base):
            entries = addrs.setdefault(name, [])
            try:
                mac = self._text(f"{base}/{name}/address").strip()
            except OSError:
                mac = ""
            if mac:
                entries.append({"family": int(psutil.AF_LINK), "address": mac, "netmask": None})
            try:
                flags = int(self._text(f"{base}/{name}/flags").strip(), 16)
            except (OSError, ValueError):
                flags = None
            try:
                speed = max(0, int(self._text(f"{base}/{name}/speed").strip()))
            except (OSError, ValueError):
                speed = 0
            stats[name] = {"up": None if flags is None else bool(flags & _IFF_UP), "speed": speed}
        for name, address, prefix in self._inet_addresses():
            addrs.setdefault(name, []).append(address_entry(address, prefix))
        return {"addrs": addrs, "stats": stats}

    def _inet_addresses(self) -> list[tuple[str, str, int]]:
        """(interface, address, prefix length): ``ip -o addr`` (IPv4 and IPv6); without
        iproute2 only IPv6, from /proc/net/if_inet6."""
        result = self.runner.run(["ip", "-o", "addr", "show"], timeout=30)
        if result.ok:
            return parse_ip_addr(result.stdout)
        out = []
        try:
            text = self._text("/proc/net/if_inet6")
        except OSError:
            return []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 6:
                address = str(ipaddress.IPv6Address(bytes.fromhex(parts[0])))
                out.append((parts[5], address, int(parts[2], 16)))
        return out

    def listening(self) -> list[dict[str, Any]]:
        """Listening TCP and bound, unconnected UDP sockets from /proc/net/{tcp,udp}[6].

        The owning process is not looked up (that would mean reading every process's fds
        over SSH): ``process`` is None.
        """
        sockets: list[dict[str, Any]] = []
        for proto in ("tcp", "tcp6", "udp", "udp6"):
            try:
                text = self._text(f"/proc/net/{proto}")
            except FileNotFoundError:
                continue  # no IPv6 in this kernel
            sockets.extend(parse_proc_net(text, proto))
        return sockets

    # -- names -----------------------------------------------------------------------------

    def fqdn(self) -> str:
        result = self.runner.run(["hostname", "--fqdn"], timeout=30)
        name = result.stdout.strip() if result.ok else ""
        return name or self._text("/proc/sys/kernel/hostname").strip()

    def machine(self) -> str:
        return self._output(["uname", "-m"]).strip()


def _unescape(value: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (\\040)."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), value)


def address_entry(address: str, prefix: int) -> dict[str, Any]:
    """One psutil.net_if_addrs() entry: family, address, netmask (dotted / ffff:: form)."""
    ip = ipaddress.ip_address(address)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    netmask = ipaddress.ip_network(f"{ip}/{prefix}", strict=False).netmask
    return {"family": int(family), "address": address, "netmask": str(netmask)}


def parse_ip_addr(text: str) -> list[tuple[str, str, int]]:
    """``ip -o addr show``: ``2: eth0    inet 10.0.0.5/24 brd … scope global eth0\\ …``."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[2] not in ("inet", "inet6"):
            continue
        name = parts[1].split("@", 1)[0]
        address, _, prefix = parts[3].partition("/")
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        # IPv4 aliases carry their label (eth0:1) last, as getifaddrs names them.
        if parts[2] == "inet" and "scope" in parts:
            i = parts.index("scope")
            if i + 2 < len(parts) and parts[i + 2].startswith(name + ":"):
                name = parts[i + 2].rstrip("\\")
        full = 32 if ":" not in address else 128
        out.append((name, address, int(prefix) if prefix.isdigit() else full))
    return out


def _decode(hex_address: str, v6: bool) -> tuple[str, int]:
    host, _, port = hex_address.partition(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host (little-endian) byte order.
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET6 if v6 else socket.AF_INET
    return socket.inet_ntop(family, raw), int(port, 16)


def parse_proc_net(text: str, proto: str) -> list[dict[str, Any]]:
    """Listening sockets in one /proc/net/{tcp,tcp6,udp,udp6} table, as psutil filters them."""
    v6 = proto.endswith("6")
    tcp = proto.startswith("tcp")
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4:
            continue
        laddr, raddr, state = parts[1], parts[2], parts[3]
        ip, port = _decode(laddr, v6)
        _rip, rport = _decode(raddr, v6)
        if port == 0:
            continue
        if tcp and state != _TCP_LISTEN:
            continue
        if not tcp and rport != 0:
            continue
        out.append({"proto": proto, "address": ip, "port": port, "process": None})
    return out
