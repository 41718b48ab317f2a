"""The psutil interface facts of a Windows or macOS machine, replayed on Linux: address
families are the recording machine's numbers (psutil.AF_LINK is -1 on Windows, 18 on macOS,
17 on Linux; AF_INET6 is 23 on Windows, 30 on macOS), not this host's. The records below are
built from those documented constants (no psutil record of a real Windows machine exists in
the fixtures); they test the mapping, not a machine."""

from __future__ import annotations

from agent.probes.windows import network
from tests.fakes import context, machine


def _facts(addrs: dict, stats: dict) -> dict:
    return {"psutil.net_if": {"addrs": addrs, "stats": stats}}


def test_windows_families_and_dashed_mac():
    calls = _facts(
        {
            "Ethernet": [
                {"family": -1, "address": "00-15-5D-01-02-03", "netmask": None},
                {"family": 2, "address": "10.1.2.3", "netmask": "255.255.255.0"},
                {"family": 23, "address": "fe80::1", "netmask": None},
            ],
            "Loopback Pseudo-Interface 1": [
                {"family": 2, "address": "127.0.0.1", "netmask": "255.0.0.0"},
            ],
        },
        {"Ethernet": {"up": True, "speed": 1000}, "Loopback Pseudo-Interface 1": {"up": True}},
    )
    ctx, _ = context(machine(calls=calls, platform="windows"))
    eth, lo = network.collect(ctx).interfaces or []
    assert (eth.name, eth.mac, eth.speed_mbps, eth.kind) == ("Ethernet", "00:15:5d:01:02:03",
                                                              1000, None)  # fmt: skip
    assert eth.addresses == ["10.1.2.3/24", "fe80::1"]
    assert (lo.kind, lo.mac, lo.addresses) == ("loopback", None, ["127.0.0.1/8"])


def test_macos_link_entry_without_address_gives_no_mac():
    calls = _facts(
        {
            "en0": [
                {"family": 18, "address": "a4:83:e7:00:11:22", "netmask": None},
                {"family": 30, "address": "fe80::1%en0", "netmask": "ffff:ffff:ffff:ffff::"},
            ],
            "utun0": [{"family": 18, "address": "", "netmask": None}],
        },
        {"en0": {"up": True, "speed": 0}, "utun0": {"up": True}},
    )
    ctx, _ = context(machine(calls=calls, platform="darwin"))
    en0, utun0 = network.collect(ctx).interfaces or []
    assert (en0.mac, en0.speed_mbps) == ("a4:83:e7:00:11:22", None)  # psutil's 0 = unknown
    assert utun0.mac is None
