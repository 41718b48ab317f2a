"""Windows command parsers on real captured output (German and English), and on truncated
copies: a cut output yields unknowns, never a crash."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agent.parsers import (
    bitlocker_volume,
    manage_bde,
    netfirewall_profile,
    netsh_advfirewall,
    netsh_wlan,
    powershell_list,
    powershell_table,
    systeminfo,
    uninstall_json,
    wmi_monitor,
    wmic_qfe,
    wua_json,
)
from agent.parsers.wlan_security import from_windows

OUT = Path(__file__).parents[1] / "fixtures" / "windows-outputs"
ALL = sorted(p.name for p in OUT.glob("*.txt"))


def read(name: str) -> str:
    return (OUT / name).read_text(encoding="utf-8")


def test_netsh_interfaces_german():
    [i] = netsh_wlan.parse_interfaces(read("netsh-if-de.txt"))
    assert (i.name, i.connected, i.ssid, i.bssid) == ("WLAN", True, "SSID-1", "fe:dc:ba:09:87:02")
    assert (i.authentication, i.cipher, i.channel, i.band_ghz) == (
        "WPA2-Enterprise",
        "CCMP",
        116,
        5.0,
    )
    assert (i.signal_percent, i.receive_mbps, i.transmit_mbps) == (43, 300.0, 300.0)
    assert from_windows(i.authentication, i.cipher) == "wpa2-enterprise"
    assert netsh_wlan.channel_to_frequency(i.channel, i.band_ghz) == 5580


def test_netsh_interfaces_english():
    [i] = netsh_wlan.parse_interfaces(read("netsh-if-en.txt"))
    assert (i.name, i.connected, i.ssid, i.channel, i.signal_percent) == (
        "Wi-Fi",
        True,
        "SSID-1",
        44,
        42,
    )
    assert from_windows(i.authentication, i.cipher) == "wpa2-psk"
    assert i.band_ghz is None  # this Windows build prints no band line


def test_signal_percent_to_dbm_is_microsofts_mapping():
    assert netsh_wlan.percent_to_dbm(0) == -100
    assert netsh_wlan.percent_to_dbm(100) == -50
    assert netsh_wlan.percent_to_dbm(43) == -78  # 21.5 - 100, rounded half to even
    assert netsh_wlan.percent_to_dbm(42) == -79


@pytest.mark.parametrize("lang", ["de", "en"])
def test_netsh_profiles_and_profile(lang):
    assert netsh_wlan.parse_profiles(read(f"netsh-profiles-{lang}.txt")) == ["Profile1 2"]
    profile = netsh_wlan.parse_profile(read(f"netsh-profile-{lang}.txt"))
    assert profile is not None
    assert (profile.name, profile.ssid, profile.autoconnect) == ("Profile1 2", "SSID-1", False)
    assert from_windows(profile.authentication, profile.cipher) == "open"


def test_windows_security_words():
    assert from_windows("WPA2-Personal", "TKIP") == "wpa-psk"
    assert from_windows("WPA3-Personal", "GCMP") == "wpa3-sae"
    assert from_windows("Offen", "WEP") == "wep"
    assert from_windows(None) == "unknown"


def test_manage_bde_german_variants():
    [off] = manage_bde.parse_status(read("bde-de-off.txt"))
    assert (off.mount, off.protection_on, off.encrypted, off.method) == ("C:", False, False, None)
    assert off.percent_encrypted == 0.0
    [prog] = manage_bde.parse_status(read("bde-de-progress.txt"))
    assert (prog.percent_encrypted, prog.method, prog.encrypted) == (3.5, "XTS-AES 128", False)
    [on] = manage_bde.parse_status(read("bde-de-on.txt"))
    assert (on.protection_on, on.percent_encrypted, on.encrypted) == (True, 100.0, True)


def test_systeminfo_english_windows_10():
    info = systeminfo.parse_systeminfo(read("jc-win10-systeminfo.txt"))
    assert info.get("os_name") == "Microsoft Windows 10 Enterprise"
    assert (info.version, info.build, info.arch) == ("10.0.19042", "19042", "x86_64")
    assert info.memory_bytes == 2047 * 1024 * 1024
    assert info.bios == ("VMware, Inc. VMW71.00V.11111111.B64.2008100111", dt.date(2020, 8, 10))
    # 9:25:03 AM at UTC-08:00
    assert info.datetime("boot_time") == dt.datetime(2021, 3, 19, 17, 25, 3, tzinfo=dt.UTC)
    assert info.hotfixes[0] == "KB4578968" and len(info.hotfixes) == 6


def test_systeminfo_german_excerpts():
    info = systeminfo.parse_systeminfo(read("systeminfo-de-excerpt.txt"))
    assert info.get("os_name") == "Microsoft Windows 10 Pro"
    assert (info.version, info.build) == ("10.0.19042", "19042")
    mem = systeminfo.parse_systeminfo(read("systeminfo-de-memory-excerpt.txt"))
    assert mem.memory_bytes == 6083 * 1024 * 1024
    assert mem.arch == "x86_64"


def test_systeminfo_dates_by_locale():
    utc = dt.UTC
    assert systeminfo.parse_local_datetime("09.05.2025, 21:57:22", utc) == dt.datetime(
        2025, 5, 9, 21, 57, 22, tzinfo=utc
    )
    assert systeminfo.parse_local_datetime("5/9/2025, 9:57:22 PM", utc) == dt.datetime(
        2025, 5, 9, 21, 57, 22, tzinfo=utc
    )
    assert systeminfo.parse_local_datetime("28/10/2021, 10:00:00", utc) == dt.datetime(
        2021, 10, 28, 10, 0, tzinfo=utc
    )
    assert systeminfo.parse_local_datetime("garbage", utc) is None


def test_advfirewall_current_profile_english():
    [profile] = netsh_advfirewall.parse_profiles(read("advfirewall-en-currentprofile.txt"))
    assert (profile.name, profile.enabled) == ("Domain Profile Settings", False)


def test_win32_bios_list_view():
    [bios] = powershell_list.parse_list(read("win32bios-dell.txt"))
    assert bios["SerialNumber"] == "6YSTYN1" and bios["SMBIOSBIOSVersion"] == "A05"


PARSERS = [
    netsh_wlan.parse_interfaces,
    netsh_wlan.parse_profiles,
    netsh_wlan.parse_profile,
    manage_bde.parse_status,
    systeminfo.parse_systeminfo,
    netsh_advfirewall.parse_profiles,
    powershell_list.parse_list,
    powershell_table.parse_table,
    wmi_monitor.parse_basic_display_params,
    wmi_monitor.parse_friendly_names,
    netfirewall_profile.parse_profiles,
    bitlocker_volume.parse_volumes,
    wmic_qfe.parse_qfe,
    wua_json.parse_updates,
    uninstall_json.parse_programs,
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: f"{p.__module__}.{p.__name__}")
def test_truncated_and_garbled_output_never_crashes(name, parser):
    text = read(name)
    for cut in (0, 1, len(text) // 3, len(text) // 2, len(text) - 1):
        parser(text[:cut])
    parser(text.replace(":", ""))
    parser(text.replace("-", ""))
    parser("\x00\ufffd" + text[::-1])


def test_truncated_netsh_interface_keeps_only_what_was_printed():
    text = read("netsh-if-de.txt")
    [i] = netsh_wlan.parse_interfaces(text[: text.index("Kanal")])
    assert i.ssid == "SSID-1" and i.channel is None and i.signal_percent is None


def test_truncated_manage_bde_is_unknown_not_unencrypted():
    text = read("bde-de-on.txt")
    [vol] = manage_bde.parse_status(text[: text.index("Schutzstatus")])
    assert vol.protection_on is None and vol.encrypted is None
