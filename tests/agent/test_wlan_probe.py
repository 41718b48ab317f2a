"""The Linux WLAN probe on fixture sysfs trees and real command output."""

from __future__ import annotations

from agent.probes import wlan
from agent.schema import WlanInterface, WlanNetwork
from tests.fakes import FIXTURES, FixtureRunner, context, machine

SYSFS = FIXTURES / "sysfs"
W = "linux/wlan/"


def nm_runner() -> FixtureRunner:
    return (
        FixtureRunner()
        .add_file(wlan.NMCLI_DEVICES, W + "nmcli-device-status.out")
        .add_file(wlan.NMCLI_WIFI_LIST, W + "nmcli-wifi-list.out")
        .add_file(wlan.NMCLI_CONNECTIONS, W + "nmcli-connection-uuid-type.out")
    )


def test_wireless_interfaces_from_sysfs() -> None:
    ctx, _ = context(machine(root=SYSFS / "wlan-nm"))
    assert wlan.wireless_interfaces(ctx) == ["wlan0"]


def test_nmcli_path() -> None:
    runner = nm_runner()
    ctx, errors = context(machine(runner, root=SYSFS / "wlan-nm"))
    result = wlan.collect_linux(ctx)
    assert result is not None
    # nmcli says wlan0 is connected, but no access point in its list is ACTIVE: the
    # connection's details stay unknown rather than being taken from some other AP.
    assert result.interfaces == [WlanInterface(name="wlan0", connected=True)]
    assert result.visible == [
        WlanNetwork(
            ssid="wlan0-ap-2",
            bssid="c0:e2:be:e8:ef:b6",
            security="wpa-psk",
            signal_dbm=-45,  # 92 % -> -100 + 0.6 * 92 = -44.8
            channel=1,
        ),
        WlanNetwork(
            ssid="wlan0-ap-1",
            bssid="61:95:77:ac:1e:4c",
            security="wpa-psk",
            signal_dbm=-51,
            channel=1,
        ),
        WlanNetwork(
            ssid="wlan0-ap-3",
            bssid="9b:f6:b7:ec:97:76",
            security="wpa3-sae",
            signal_dbm=-67,
            channel=1,
        ),
        WlanNetwork(
            ssid="wlan1-ap-4",
            bssid="94:2b:e8:f6:d2:86",
            security="wpa-psk",
            signal_dbm=-71,
            channel=1,
        ),
    ]
    # the saved connections are ethernet and gsm only: no wifi profiles, and no per-profile
    # command was run
    assert result.profiles == []
    assert not any(call[-2:-1] == ("uuid",) for call in runner.calls)
    assert tuple(wlan.NMCLI_WIFI_LIST) in runner.calls
    assert "--rescan" in wlan.NMCLI_WIFI_LIST  # never trigger a scan
    # iw is not installed here; nmcli answered everything, so that is no error
    assert errors.entries == []


def test_nmcli_path_prefers_iw_dbm() -> None:
    runner = (
        nm_runner()
        .add_file(wlan.IW_DEV, W + "iw-dev-wifiphisher-443.out")
        .add_file(wlan.iw_link_argv("wlan0"), W + "iw-link-rtl8812au-42.out")
    )
    ctx, errors = context(machine(runner, root=SYSFS / "wlan-nm"))
    result = wlan.collect_linux(ctx)
    assert result is not None
    [iface] = result.interfaces or []
    assert iface.connected is True
    assert iface.signal_dbm == -60  # measured by iw, not derived from a percentage
    assert iface.rate_mbps == 173.3
    assert iface.frequency_mhz == 5300
    assert iface.channel == 60
    assert iface.ssid == "xxx"
    assert iface.security is None  # nmcli had no active AP, iw does not say
    assert errors.entries == []


def test_nmcli_daemon_not_running_falls_back_to_iw() -> None:
    stderr = (FIXTURES / W / "nmcli-daemon-not-running.err").read_text(encoding="utf-8")
    runner = (
        FixtureRunner()
        .add(wlan.NMCLI_DEVICES, "", exit_code=8, stderr=stderr)
        .add_file(wlan.IW_DEV, W + "iw-dev-wifiphisher-443.out")
        .add_file(wlan.iw_link_argv("wlan0"), W + "iw-link-rtl8812au-42.out")
        .add_file(wlan.iw_scan_dump_argv("wlan0"), W + "iw-scan-dump-jc-scan0.out")
        .add_file(wlan.wpa_cli_status_argv("wlan0"), W + "wpa_cli-status-completed-autoap-19.out")
    )
    ctx, errors = context(machine(runner, root=SYSFS / "wlan-iw"))
    result = wlan.collect_linux(ctx)
    assert result is not None
    assert result.profiles is None  # NetworkManager did not answer: unknown, not "none"
    [iface] = result.interfaces or []
    assert iface.connected is True
    assert len(result.visible or []) == 2
    assert errors.entries == [
        ("test", "nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device: exit code 8: " + stderr.strip())
    ]


def test_iw_and_wpa_cli_path() -> None:
    runner = (
        FixtureRunner()
        .add_file(wlan.IW_DEV, W + "iw-dev-wifiphisher-443.out")
        .add_file(wlan.iw_link_argv("wlan0"), W + "iw-link-rtl8812au-42.out")
        .add_file(wlan.iw_scan_dump_argv("wlan0"), W + "iw-scan-dump-jc-scan1.out")
        .add_file(wlan.wpa_cli_status_argv("wlan0"), W + "wpa_cli-status-completed-autoap-19.out")
    )
    ctx, errors = context(machine(runner, root=SYSFS / "wlan-iw"))
    result = wlan.collect_linux(ctx)
    assert result is not None
    assert result.interfaces == [
        WlanInterface(
            name="wlan0",
            connected=True,
            ssid="xxx",  # iw's word for the SSID wins over wpa_cli's
            bssid="xx:xx",
            security="wpa-psk",  # wpa_cli: WPA2-PSK with TKIP group cipher
            cipher="CCMP",
            frequency_mhz=5300,
            channel=60,
            signal_dbm=-60,
            rate_mbps=173.3,
        )
    ]
    visible = result.visible or []
    assert len(visible) == 26
    assert visible[0] == WlanNetwork(
        ssid="Hoeheitsgebiet",
        bssid="ac:22:05:db:4d:5b",
        security="wpa-psk",
        signal_dbm=-57,
        channel=1,
    )
    assert sum(1 for n in visible if n.security == "open") == 5  # the Vodafone Hotspots
    assert result.profiles is None  # no NetworkManager: nothing known about profiles
    # nmcli simply is not installed: not an error
    assert errors.entries == []


def test_wpa_cli_failing_gives_error_and_none() -> None:
    runner = (
        FixtureRunner()
        .add_file(wlan.IW_DEV, W + "iw-dev-wifiphisher-443.out")
        .add_file(wlan.iw_link_argv("wlan0"), W + "iw-link-rtl8812au-42.out")
        .add_file(wlan.iw_scan_dump_argv("wlan0"), W + "iw-scan-dump-jc-scan1.out")
    )
    ctx, errors = context(machine(runner, root=SYSFS / "wlan-iw"))
    result = wlan.collect_linux(ctx)
    assert result is not None
    [iface] = result.interfaces or []
    # the linked BSSID is not in the scan result either, so security stays unknown
    assert iface.security is None
    assert iface.cipher is None
    assert iface.signal_dbm == -60
    assert errors.entries == [("test", "wpa_cli -i wlan0 status: not-found")]


def test_no_tool_at_all() -> None:
    ctx, errors = context(machine(FixtureRunner(), root=SYSFS / "wlan-iw"))
    result = wlan.collect_linux(ctx)
    assert result is not None
    assert result.interfaces == [WlanInterface(name="wlan0")]
    assert result.visible is None
    assert result.profiles is None
    assert errors.entries == [("test", "iw dev: not-found")]


def test_no_wlan_hardware_with_networkmanager() -> None:
    runner = nm_runner()
    ctx, errors = context(machine(runner, root=SYSFS / "wlan-none"))
    result = wlan.collect_linux(ctx)
    assert result is not None
    assert result.interfaces == []
    assert result.visible == []
    assert result.profiles == []
    assert errors.entries == []
    assert tuple(wlan.NMCLI_WIFI_LIST) not in runner.calls


def test_no_wlan_hardware_without_networkmanager() -> None:
    runner = FixtureRunner()
    ctx, errors = context(machine(runner, root=SYSFS / "wlan-none"))
    result = wlan.collect_linux(ctx)
    assert result is not None
    assert result.interfaces == []
    assert result.visible == []
    assert result.profiles is None
    assert errors.entries == []
    assert runner.calls == [tuple(wlan.NMCLI_DEVICES)]


def test_percent_to_dbm() -> None:
    assert wlan.percent_to_dbm(100) == -40
    assert wlan.percent_to_dbm(0) == -100
    assert wlan.percent_to_dbm(50) == -70
    assert wlan.percent_to_dbm(None) is None
