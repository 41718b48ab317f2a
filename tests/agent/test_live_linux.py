"""The agent on this very machine agrees with the system's own tools."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from agent.context import live_machine
from agent.report import Selection, collect

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux inventory")


@pytest.fixture(scope="module")
def listening_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(scope="module")
def report(listening_socket):
    # Patches have their own live test; skipping them keeps this one quick.
    return collect(live_machine(), Selection(skip=frozenset({"patches"})))


def test_memory_agrees_with_proc_meminfo(report):
    with open("/proc/meminfo") as fh:
        line = next(line for line in fh if line.startswith("MemTotal:"))
    assert report.hardware.memory_bytes == int(line.split()[1]) * 1024


def test_cpu_threads_agree_with_nproc(report):
    # nproc honours the affinity mask; `nproc --all` is what the machine has.
    threads = int(subprocess.run(["nproc", "--all"], capture_output=True, text=True).stdout)
    assert report.hardware.cpu_threads == threads


def test_interfaces_agree_with_sys_class_net(report):
    names = {i.name for i in report.network.interfaces}
    assert names == set(os.listdir("/sys/class/net"))
    for iface in report.network.interfaces:
        with open(f"/sys/class/net/{iface.name}/operstate") as fh:
            operstate = fh.read().strip()
        if operstate == "up":
            assert iface.up is True
        with open(f"/sys/class/net/{iface.name}/address") as fh:
            address = fh.read().strip()
        if address != "00:00:00:00:00:00":
            assert iface.mac == address
    lo = next(i for i in report.network.interfaces if i.name == "lo")
    assert lo.kind == "loopback" and "127.0.0.1/8" in lo.addresses


def test_listening_test_socket_is_reported(report, listening_socket):
    ours = [s for s in report.network.listening if s.port == listening_socket]
    assert ours, f"port {listening_socket} not among {report.network.listening}"
    assert ours[0].proto == "tcp" and ours[0].address == "127.0.0.1"
    assert ours[0].process == open("/proc/self/comm").read().strip()


def test_listening_sockets_by_netlink_agree_with_proc_net_and_ss():
    from agent.probes import network

    tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp6.bind(("::1", 0))
    tcp6.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected.connect(("127.0.0.1", 9))  # a UDP socket with a peer: not listening
    try:
        # Other processes on this (shared) machine open and close listeners meanwhile: the
        # three views are compared on a moment when netlink's view stayed the same.
        for _ in range(10):
            by_netlink = set(network._sock_diag())
            by_proc = set(network._proc_net())
            ss = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True)
            if set(network._sock_diag()) == by_netlink:
                break
        assert by_netlink == by_proc
        ports = {(proto, port) for proto, _, port, _ in by_netlink}
        assert ("tcp6", tcp6.getsockname()[1]) in ports
        assert ("udp", udp.getsockname()[1]) in ports
        assert ("udp", connected.getsockname()[1]) not in ports
        # iproute2's ss, the system's own tool, lists the same listening TCP ports.
        ss_ports = {int(line.split()[3].rpartition(":")[2]) for line in ss.stdout.splitlines()}
        assert ss_ports == {port for proto, _, port, _ in by_netlink if proto.startswith("tcp")}
        facts = network._listening_facts()
        mine = [f for f in facts if f["port"] == udp.getsockname()[1] and f["proto"] == "udp"]
        assert mine[0]["process"] == open("/proc/self/comm").read().strip()
        # The second time the owner comes from the remembered descriptor: the same answer.
        again = [f for f in network._listening_facts() if f in mine]
        assert again == mine
    finally:
        for s in (tcp6, udp, connected):
            s.close()


@pytest.mark.skipif(not os.path.exists("/var/lib/dpkg/status"), reason="not a dpkg system")
def test_software_agrees_with_dpkg_query(report):
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${binary:Package} ${Version}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {(f[1], f[2]) for f in (line.split() for line in out.splitlines()) if f[0] == "ii"}
    assert {(s.name, s.version) for s in report.software} == installed
    assert all(s.publisher is None or "@" not in s.publisher for s in report.software)
    sources = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${binary:Package}\t${source:Package}"
         "\t${source:Version}\n"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    expected = {f[1]: (f[2], f[3]) for f in (line.split("\t") for line in sources.splitlines())
                if f[0].startswith("ii")}  # fmt: skip
    assert {s.name: (s.source, s.source_version) for s in report.software} == expected


def test_missing_facts_are_null_with_an_error(report):
    errors = {(e.probe, e.message) for e in report.collection.errors}
    if not os.path.exists("/sys/class/dmi/id"):
        assert report.host.manufacturer is None and report.host.serial is None
        assert report.host.bios_date is None
        assert any(p == "host" and "/sys/class/dmi/id" in m for p, m in errors)
    drm = "/sys/class/drm"
    connected = os.path.isdir(drm) and any(
        open(f"{drm}/{c}/status").read().strip() == "connected"
        for c in os.listdir(drm)
        if os.path.exists(f"{drm}/{c}/status")
    )
    if not connected:
        assert report.displays is None
        assert any(p == "displays" for p, _ in errors)


def test_os_agrees_with_os_release_and_uname(report):
    assert report.os.kernel == os.uname().release
    assert report.os.arch == os.uname().machine
    with open("/etc/os-release") as fh:
        release = dict(
            line.rstrip("\n").split("=", 1)
            for line in fh
            if "=" in line and not line.startswith("#")
        )
    assert report.os.version == release.get("VERSION_ID", "").strip('"')
    assert report.os.codename == (release.get("VERSION_CODENAME", "").strip('"') or None)
    assert report.host.hostname == socket.gethostname()
