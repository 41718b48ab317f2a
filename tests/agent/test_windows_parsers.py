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
    wmi_monitor,
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


# --- the commands besides systeminfo, netsh and manage-bde ---------------------------------


def test_systeminfo_english_windows_11_laptop():
    info = systeminfo.parse_systeminfo(read("systeminfo-en-win11-22h2-huawei.txt"))  # CRLF
    assert info.get("os_name") == "Microsoft Windows 11 Home Single Language"
    assert (info.version, info.build, info.arch) == ("10.0.22621", "22621", "x86_64")
    assert (info.get("manufacturer"), info.get("model")) == ("HUAWEI", "NBLB-WAX9N")
    assert info.memory_bytes == 16217 * 1024 * 1024
    assert info.bios == ("HUAWEI 1.45", dt.date(2023, 1, 17))
    # 10/2/2023, 3:58:12 PM at UTC+07:00
    assert info.datetime("boot_time") == dt.datetime(2023, 10, 2, 8, 58, 12, tzinfo=dt.UTC)
    assert info.hotfixes == ["KB5008215"]


def test_systeminfo_english_windows_10_cut_by_its_author():
    info = systeminfo.parse_systeminfo(read("systeminfo-en-win10-19045-dell-e7270.txt"))
    assert (info.get("hostname"), info.version, info.build) == (
        "DESKTOP-62FF1GB",
        "10.0.19045",
        "19045",
    )
    assert (info.get("manufacturer"), info.get("model")) == ("Dell Inc.", "Latitude E7270")
    assert info.memory_bytes == 8084 * 1024 * 1024
    assert info.hotfixes == []  # the KB lines are not in the capture


def test_systeminfo_german_windows_7_label_physikalisch():
    info = systeminfo.parse_systeminfo(read("systeminfo-de-win7-lenovo-42902bg.txt"))
    assert info.get("os_name") == "Microsoft Windows 7 Ultimate N"
    assert (info.get("manufacturer"), info.get("model")) == ("LENOVO", "42902BG")
    assert info.memory_bytes == 16155 * 1024 * 1024  # "16.155 MB", dot = thousands
    assert info.bios == ("LENOVO 8DET74WW (1.44 )", dt.date(2018, 3, 13))
    # 04.03.2019, 11:44:54 at UTC+01:00
    assert info.datetime("boot_time") == dt.datetime(2019, 3, 4, 10, 44, 54, tzinfo=dt.UTC)
    assert info.hotfixes[:2] == ["KB2849697", "KB2849697"]


def test_win32_bios_default_view_dell():
    [bios] = powershell_list.parse_list(read("win32bios-dell-4zkm0z2.txt"))
    assert (bios["SerialNumber"], bios["Manufacturer"], bios["SMBIOSBIOSVersion"]) == (
        "4ZKM0Z2",
        "Dell Inc.",
        "1.7.1",
    )


def test_win32_computersystem_table_marks_cut_values():
    [row] = powershell_table.parse_table(read("win32-computersystem-msi-gl65.txt"))
    assert (row["Name"], row["Model"], row["TotalPhysicalMemory"]) == (
        "MSI",
        "GL65 9SE",
        "17017856000",
    )
    assert row["Manufacturer"] == "Micro-Star Inter..."
    assert powershell_table.is_cut(row["Manufacturer"])
    assert not powershell_table.is_cut(row["Model"])


def test_monitor_params_dell():
    [m] = wmi_monitor.parse_basic_display_params(read("monitor-params-dell-deld054.txt"))
    assert (m.vendor_pnp, m.product_code, m.active) == ("DEL", 0xD054, True)
    assert (m.width_cm, m.height_cm, m.diagonal_in, m.video_input) == (48, 27, 21.7, 1)


def test_monitor_params_two_monitors_from_a_commented_sample():
    # The capture is kept with the comment marks of the script it was found in.
    lines = read("monitor-params-len40ba-sam1017-commented.txt").splitlines()[1:]
    text = "\n".join(line.removeprefix("#") for line in lines)
    panel, samsung = wmi_monitor.parse_basic_display_params(text)
    assert (panel.vendor_pnp, panel.product_code, panel.width_cm, panel.height_cm) == (
        "LEN",
        0x40BA,
        34,
        19,
    )
    assert panel.diagonal_in == 15.3
    assert (samsung.vendor_pnp, samsung.width_cm, samsung.height_cm, samsung.diagonal_in) == (
        "SAM",
        63,
        36,
        28.6,
    )


def test_monitor_friendly_names():
    assert wmi_monitor.parse_friendly_names(read("monitor-names-dell-deld054.txt")) == [
        "DELL S2240L"
    ]
    assert wmi_monitor.parse_friendly_names("68\n69\n0\n76\n76\n0\n") == ["DE", "LL"]
    assert wmi_monitor.parse_friendly_names("68\nDELL\n") is None
    assert wmi_monitor.parse_friendly_names("") == []


def test_monitor_without_size_is_unknown_not_zero():
    text = read("monitor-params-dell-deld054.txt").replace(": 48", ": 0").replace(": 27", ": 0")
    [m] = wmi_monitor.parse_basic_display_params(text)
    assert (m.width_cm, m.height_cm, m.diagonal_in) == (None, None, None)


def test_get_netfirewallprofile():
    profiles = netfirewall_profile.parse_profiles(read("netfirewallprofile-all-disabled.txt"))
    assert [(p.name, p.enabled) for p in profiles] == [
        ("Domain", False),
        ("Private", False),
        ("Public", False),
    ]
    [public] = netfirewall_profile.parse_profiles(read("netfirewallprofile-public-enabled.txt"))
    assert (public.name, public.enabled) == ("Public", True)


def test_get_bitlockervolume_list():
    [c] = bitlocker_volume.parse_volumes(read("bitlockervolume-c-list.txt"))
    assert (c.mount, c.volume_status, c.protection_on, c.percent_encrypted) == (
        "C:",
        "FullyEncrypted",
        True,
        100.0,
    )
    assert (c.method, c.encrypted) == ("XTS-AES 128", True)  # manage-bde's words


def test_get_bitlockervolume_protection_off_or_unknown():
    text = read("bitlockervolume-c-list.txt")
    [off] = bitlocker_volume.parse_volumes(text.replace(": On", ": Off"))
    assert off.encrypted is False
    [cut] = bitlocker_volume.parse_volumes(text[: text.index("ProtectionStatus")])
    assert cut.protection_on is None and cut.encrypted is None


def test_advfirewall_current_profile_public_on_windows_11():
    text = read("advfirewall-en-currentprofile-public-on.txt")
    [profile] = netsh_advfirewall.parse_profiles(text)
    assert (profile.name, profile.enabled) == ("Public Profile Settings", True)
    assert netsh_advfirewall.parse_profiles(text[: text.index("State")]) == []
