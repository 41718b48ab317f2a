"""macOS parsers on real captured output, and on truncated copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.parsers import macos_security, softwareupdate, system_profiler
from agent.parsers.wlan_security import from_macos

OUT = Path(__file__).parents[1] / "fixtures" / "darwin-outputs"


def read(name: str) -> str:
    return (OUT / name).read_text(encoding="utf-8")


def test_hardware_apple_silicon():
    hw = system_profiler.parse_hardware(read("sp-hardware-m2.json"))
    assert (hw.model_name, hw.model_identifier, hw.serial) == (
        "MacBook Pro",
        "Mac14,7",
        "D5XQV1FMFJ",
    )
    assert (hw.cpu, hw.memory_bytes) == ("Apple M2", 16 * 1024**3)


def test_airport_connected_wpa2():
    [en0] = system_profiler.parse_airport(read("sp-airport-15.5.json"))
    assert en0.name == "en0" and en0.connected
    assert en0.current is not None
    assert (en0.current.ssid, en0.current.channel, en0.current.band_ghz) == ("SSID-7", 6, 2.0)
    assert (en0.current.signal_dbm, en0.current.rate_mbps) == (-58, 144.0)
    assert from_macos(en0.current.security_mode) == "wpa2-psk"
    assert len(en0.others) == 6 and en0.others[4].signal_dbm == -55


def test_security_one_liners():
    # The tools' documented sentences (socketfilterfw(8) usage, fdesetup(8)).
    assert macos_security.parse_fdesetup("FileVault is On.\n") is True
    assert macos_security.parse_fdesetup("FileVault is Off.\n") is False
    assert macos_security.parse_fdesetup("") is None
    assert macos_security.parse_socketfilterfw("Firewall is enabled. (State = 1)") is True
    assert macos_security.parse_socketfilterfw("Firewall is disabled. (State = 0)") is False
    assert macos_security.parse_socketfilterfw("garbage") is None


def test_softwareupdate_nothing_and_garbage():
    assert softwareupdate.parse_list("No new software available.\n") == []
    assert softwareupdate.parse_list("") is None


def test_software_macos_12():
    sw = system_profiler.parse_software(read("sp-software-12.0.1.json"))
    assert (sw.name, sw.version, sw.build, sw.kernel) == ("macOS", "12.0.1", "21A559", "21.1.0")


def test_displays_m1_pro_with_external_and_sidecar():
    dell, lcd, sidecar = system_profiler.parse_displays(read("sp-displays-m1pro.json"))
    assert (dell.name, dell.vendor_pnp, dell.product_code, dell.year) == (
        "DELL U3419W",
        "DEL",
        0xA130,
        2020,
    )
    assert (dell.native, dell.pixels, dell.refresh_hz) == ((3440, 1440), (3440, 1440), 60.0)
    assert dell.internal is None and not dell.virtual
    # "_spdisplays_display-serial-number": the EDID's serial number in hex.
    assert (dell.serial_number, lcd.serial_number) == (0x3046324C, 0xFD626D62)
    assert (lcd.internal, lcd.vendor_pnp, lcd.year) == (True, "APP", None)
    assert (lcd.native, lcd.pixels, lcd.looks_like) == ((3456, 2234), (3456, 2234), (1728, 1117))
    assert lcd.refresh_hz == 120.0
    # An iPad as Sidecar: vendor id is four ASCII bytes ("aapl"), not an EDID word.
    assert sidecar.virtual and sidecar.connection == "airplay" and sidecar.vendor_pnp is None


def test_applications_property_list_french_macos_14():
    apps = system_profiler.parse_applications(read("sp-applications-fr-14.4-excerpt.xml"))
    assert len(apps) == 14
    assert apps[0].name == "Programme d\u2019installation d\u2019apps iOS"
    assert (apps[-1].name, apps[-1].version, apps[-1].obtained_from) == (
        "QuickTime Player",
        "10.5",
        "apple",
    )
    assert apps[-1].signed_by == "Software Signing"


def test_applications_json():
    apps = system_profiler.parse_applications(read("sp-applications-2.json"))
    assert [(a.name, a.version) for a in apps] == [("Installer", "6.2.0"), ("TextEdit", "1.17")]


def test_security_and_updates_captured():
    assert macos_security.parse_fdesetup(read("fdesetup-on.txt")) is True
    assert macos_security.parse_socketfilterfw(read("socketfilterfw-state2.txt")) is True
    [update] = softwareupdate.parse_list(read("softwareupdate-bigsur-beta.txt")) or []
    assert (update.label, update.title, update.version, update.restart) == (
        "macOS Big Sur 11.1 Beta 2-20C5061b",
        "macOS Big Sur 11.1 Beta 2",
        "11.1",
        True,
    )


def test_power_apple_silicon_macbook_air():
    # Health Information: "Cycle Count: 1", "Condition: Normal", "Maximum Capacity: 100 %".
    battery = system_profiler.parse_power(read("sp-power-m1-macbookair-11.2.3.txt"))
    assert battery == system_profiler.BatteryInfo(
        cycle_count=1, condition="Normal", maximum_capacity_pct=100, full_charge_mah=None
    )


@pytest.mark.parametrize(
    ("name", "cycles", "mah"),
    [("sp-power-intel-61w-charging.txt", 125, 4069), ("sp-power-intel-10.11.txt", 552, 6078)],
)
def test_power_intel_macbooks_without_maximum_capacity(name, cycles, mah):
    battery = system_profiler.parse_power(read(name))
    assert battery == system_profiler.BatteryInfo(
        cycle_count=cycles, condition="Normal", maximum_capacity_pct=None, full_charge_mah=mah
    )


def test_power_without_battery_section():
    # No desktop Mac's output was found: the captures with their "Battery Information"
    # section taken out stand in for it.
    text = read("sp-power-intel-10.11.txt")
    desktop = (
        text[: text.index("    Battery Information:")] + text[text.index("    System Power") :]
    )
    assert system_profiler.parse_power(desktop) is None


def test_power_cut_off():
    text = read("sp-power-intel-61w-charging.txt")
    for cut in (0, 1, len("Power:\n\n    Battery")):
        with pytest.raises(system_profiler.ProfilerError):
            system_profiler.parse_power(text[:cut])
    # Cut inside "Cycle Count: 125": the broken line is not read as 12.
    cut = text.index("Cycle Count: 125") + len("Cycle Count: 12")
    battery = system_profiler.parse_power(text[:cut])
    assert battery is not None and (battery.cycle_count, battery.full_charge_mah) == (None, 4069)
    with pytest.raises(system_profiler.ProfilerError):
        system_profiler.parse_power(read("sp-software-12.0.1.json"))


PARSERS = {
    "sp-hardware-m2.json": system_profiler.parse_hardware,
    "sp-airport-15.5.json": system_profiler.parse_airport,
    "sp-software-12.0.1.json": system_profiler.parse_software,
    "sp-displays-m1pro.json": system_profiler.parse_displays,
    "sp-applications-2.json": system_profiler.parse_applications,
    "sp-applications-fr-14.4-excerpt.xml": system_profiler.parse_applications,
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_truncated_profiler_output_is_an_error_not_a_crash(name):
    text = read(name)
    for cut in (0, 1, len(text) // 2, len(text) - 2):
        with pytest.raises(system_profiler.ProfilerError):
            PARSERS[name](text[:cut])


def test_truncated_one_liners_are_unknown():
    assert macos_security.parse_fdesetup(read("fdesetup-on.txt")[:9]) is None
    assert macos_security.parse_socketfilterfw(read("socketfilterfw-state2.txt")[:20]) is None
    assert softwareupdate.parse_list(read("softwareupdate-bigsur-beta.txt")[:20]) is None
