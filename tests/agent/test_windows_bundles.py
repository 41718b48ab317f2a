"""Support bundles of Windows and macOS machines, assembled from real captured output,
replayed on Linux through the CLI (the platform comes from bundle.json).

The Windows bundles are composite (bundle.json: ``"composite": true`` and its ``parts``):
their commands are committed here, their registry and Windows Update Agent parts are built
in a temporary directory from the real data they name (tests/windows_bundles.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.windows_bundles import WINDOWS, assemble, parts

FIXTURES = Path(__file__).parents[1] / "fixtures"
BUNDLES = [*WINDOWS, "darwin-macbook-pro-m2"]


def replay_dir(directory: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--replay", str(directory)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict = json.loads(out)
    return result


def replay(name: str) -> dict:
    return replay_dir(FIXTURES / name)


@pytest.fixture(scope="module")
def windows(tmp_path_factory) -> dict[str, dict]:
    """Each composite Windows bundle, assembled and replayed once."""
    tmp = tmp_path_factory.mktemp("windows-bundles")
    return {name: replay_dir(assemble(name, tmp)) for name in WINDOWS}


@pytest.mark.parametrize("name", BUNDLES)
def test_bundle_metadata_names_its_sources(name):
    meta = json.loads((FIXTURES / name / "bundle.json").read_text(encoding="utf-8"))
    assert meta["platform"] in ("windows", "darwin") and meta["source"] and meta["locale"]
    assert (FIXTURES / name / "SOURCES.md").exists()


@pytest.mark.parametrize("name", WINDOWS)
def test_composite_bundle_lists_the_machine_of_each_part(name):
    meta = json.loads((FIXTURES / name / "bundle.json").read_text(encoding="utf-8"))
    assert meta["composite"] is True
    kinds = {p["part"] for p in parts(name)}
    assert {"commands", "registry", "update-agent:search", "update-agent:history"} <= kinds
    for part in parts(name):
        assert part["machine"] and part["what"] and part["source"]
        if part["source"].startswith("fixtures/"):
            assert (FIXTURES / part["source"].removeprefix("fixtures/")).exists()
        # A part written by hand from documentation says so, and is no machine.
        if "windows-registry/documented-" in part["source"]:
            assert part["machine"].startswith("none: ")


MIB = 1024 * 1024
DELL_S2240L = {
    "vendor_pnp": "DEL",
    "product_code": 0xD054,
    "model": "DELL S2240L",
    "width_cm": 48.0,
    "height_cm": 27.0,
    "diagonal_in": 21.7,
    "analog": False,
}


def messages(r: dict) -> list[str]:
    return [e["message"] for e in r["collection"]["errors"]]


def probe_commands() -> set[tuple[str, ...]]:
    from agent.probes.windows import displays, security, system, wlan

    argvs = [
        system.SYSTEMINFO,
        system.WIN32_BIOS,
        system.WIN32_COMPUTERSYSTEM,
        displays.PARAMS,
        displays.NAMES,
        wlan.INTERFACES,
        wlan.PROFILES,
        security.FIREWALL_PROFILES,
        security.FIREWALL,
        security.MANAGE_BDE,
        security.BITLOCKER_VOLUME,
    ]
    return {tuple(a) for a in argvs}


@pytest.mark.parametrize("name", WINDOWS)
def test_bundle_commands_are_what_the_probes_run(name):
    """Replay matches argv exactly: an entry no probe asks for would be dead weight."""
    known = probe_commands()
    entries = json.loads((FIXTURES / name / "commands.json").read_text(encoding="utf-8"))
    for entry in entries:
        argv = tuple(entry["argv"])
        assert argv in known or argv[:4] == ("netsh", "wlan", "show", "profile"), argv
        assert argv[0] != "wmic"  # gone from Windows 11 24H2


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_bundle_is_a_full_report(windows, name):
    r = windows[name]
    assert r["os"]["family"] == "windows" and r["os"]["name"] and r["os"]["version"]
    assert r["hardware"]["memory_bytes"] and r["host"]["serial"] and r["host"]["model"]
    assert r["displays"] == [{**r["displays"][0], **DELL_S2240L}]
    [wlan] = r["wlan"]["interfaces"]
    assert wlan["connected"] and wlan["security"] and wlan["signal_dbm"]
    assert r["security"]["firewall"] is not None
    assert r["security"]["disk_encryption"][0]["encrypted"] is True
    # The list, for every bundle: software (> 10, with publishers), pending updates
    # with the security count, last update or patch level, policy, SMBv1, RDP/NLA, reboot.
    software = r["software"]
    assert len(software) > 10 and sum(1 for s in software if s["publisher"]) >= 10
    patches = r["patches"]
    assert patches["pending_count"] == 6 and patches["pending_security_count"] == 2
    assert patches["last_install"] or "." in r["os"]["build"]
    assert patches["update_policy"] in ("automatic", "wsus", "intune", "manual")
    assert isinstance(r["security"]["smb1"], bool)
    assert isinstance(r["security"]["rdp"]["enabled"], bool)
    assert isinstance(r["security"]["rdp"]["nla"], bool)
    assert isinstance(patches["reboot_required"], bool)
    # What the parts do not hold is unknown and said so (never an empty list posing as none).
    errors = messages(r)
    assert any("WOW6432Node" in m and "not in the support bundle" in m for m in errors)
    assert "Windows Update Agent reboot_required is not in the support bundle" in errors


def test_pending_updates_are_classified_by_category_and_severity(windows):
    for r in windows.values():
        pending = {tuple(u["kb_ids"]): u for u in r["patches"]["pending"]}
        # The Flash update rated Critical by MSRC, and the March cumulative update whose
        # only classification is "Security Updates" (no MSRC rating).
        assert pending[("KB4537759",)]["security"] is True
        assert pending[("KB4537759",)]["severity"] == "Critical"
        assert pending[("KB4538461",)]["security"] is True
        assert pending[("KB4538461",)]["severity"] is None
        # ".NET" cumulative update, classification "Updates": not security.
        assert pending[("KB4538156",)]["security"] is False


def test_german_windows_10_laptop(windows):
    r = windows["windows-10-de-laptop"]
    assert (r["os"]["name"], r["os"]["version"], r["os"]["edition"]) == (
        "Microsoft Windows 10 Pro",
        "10.0.19042",
        "Pro",
    )
    assert r["os"]["build"] == "19042.867"  # CurrentBuild and UBR (its cmd banner)
    # Model and memory from Win32_ComputerSystem: the German systeminfo excerpt has neither.
    assert (r["host"]["model"], r["host"]["serial"]) == ("GL65 9SE", "4ZKM0Z2")
    assert r["hardware"]["memory_bytes"] == 17017856000
    assert r["host"]["manufacturer"] is None  # cut to "Micro-Star Inter..." by PowerShell
    [wlan] = r["wlan"]["interfaces"]
    assert (wlan["ssid"], wlan["security"], wlan["signal_dbm"], wlan["channel"]) == (
        "SSID-1",
        "wpa2-enterprise",
        -78,
        116,
    )
    assert r["wlan"]["profiles"] == [{"ssid": "SSID-1", "security": "open", "autoconnect": False}]
    # QueryHistory of a German Windows 10: "2021-09 Kumulatives Update für Windows 10 Version
    # 21H1 ... (KB5005565)|09/17/2021 05:09:24|2" is the newest success.
    assert r["patches"]["last_install"] == "2021-09-17T05:09:24Z"
    assert (r["patches"]["update_policy"], r["patches"]["auto_updates"]) == ("wsus", True)
    assert r["patches"]["reboot_required"] is False
    # The registry's firewall profiles (a real Windows 10: all three EnableFirewall=1) win
    # over Get-NetFirewallProfile, which is then not asked.
    assert r["security"]["firewall"] is True
    assert (r["security"]["smb1"], r["security"]["rdp"]) == (False, {"enabled": False, "nla": True})
    assert r["security"]["screen_lock"] == {"enabled": True, "timeout_s": 900, "password": True}
    assert r["security"]["disk_encryption"] == [
        {"mount": "C:", "encrypted": True, "method": "XTS-AES 128"}
    ]
    names = {s["name"]: s for s in r["software"]}
    assert len(names) == 11  # 2 of the Russian Windows 10, 9 of the SQL Server machines
    assert names["КриптоПро CSP"] == {
        "name": "КриптоПро CSP",
        "version": "5.0.12000",
        "publisher": "Компания КриптоПро",
        "install_date": "2021-07-24",
        "source": None,
        "source_version": None,
    }
    assert names["1C Предприятие 7.7"]["publisher"] is None
    assert any("Micro-Star Inter..." in m for m in messages(r))


def test_english_windows_10_laptop(windows):
    r = windows["windows-10-en-laptop"]
    assert (r["os"]["name"], r["os"]["version"], r["os"]["build"]) == (
        "Microsoft Windows 10 Pro",
        "10.0.19045",
        "19045",  # no CurrentVersion part: the patch level is unknown
    )
    assert r["os"]["boot_time"] == "2026-05-25T16:07:22Z"  # 11:07:22 PM at UTC+07:00
    assert (r["host"]["hostname"], r["host"]["manufacturer"], r["host"]["model"]) == (
        "DESKTOP-62FF1GB",
        "Dell Inc.",
        "Latitude E7270",
    )
    assert r["host"]["serial"] == "6YSTYN1"
    assert r["hardware"]["memory_bytes"] == 8084 * MIB
    [wlan] = r["wlan"]["interfaces"]
    assert (wlan["security"], wlan["signal_dbm"], wlan["rate_mbps"]) == ("wpa2-psk", -79, 103.0)
    patches = r["patches"]
    assert patches["last_install"] == "2021-09-17T05:09:24Z"
    assert (patches["update_policy"], patches["auto_updates"]) == ("automatic", True)
    assert patches["reboot_required"] is True  # Auto Update\RebootRequired exists
    assert r["security"]["firewall"] is True  # registry, a real Windows 10's profiles
    assert (r["security"]["smb1"], r["security"]["rdp"]) == (False, {"enabled": True, "nla": False})
    assert r["security"]["screen_lock"] is None
    assert r["security"]["disk_encryption"] == [
        {"mount": "C:", "encrypted": True, "method": "XTS-AES 128"}
    ]
    # Windows XP's 536 Uninstall keys: 419 with a DisplayName, 62 programs once components
    # (SystemComponent=1) and updates (ParentKeyName, ReleaseType) are left out.
    software = r["software"]
    assert len(software) == 62
    assert not any(s["name"].startswith("Security Update for") for s in software)
    assert {
        "name": "WinSCP 4.0.7",
        "version": "4.0.7",
        "publisher": "Martin Prikryl",
        "install_date": "2009-01-15",
        "source": None,
        "source_version": None,
    } in software
    errors = messages(r)
    assert "manage-bde -status: not in the support bundle" in errors
    assert any("Windows NT\\CurrentVersion is not in the support bundle" in m for m in errors)


def test_english_windows_11_laptop(windows):
    r = windows["windows-11-en-laptop"]
    assert (r["os"]["name"], r["os"]["version"], r["os"]["build"], r["os"]["edition"]) == (
        "Microsoft Windows 11 Home Single Language",
        "10.0.22621",
        "22621",
        "Home",
    )
    assert (r["host"]["manufacturer"], r["host"]["model"], r["host"]["serial"]) == (
        "HUAWEI",
        "NBLB-WAX9N",
        "4ZKM0Z2",
    )
    assert r["hardware"]["memory_bytes"] == 16217 * MIB
    [wlan] = r["wlan"]["interfaces"]
    assert (wlan["security"], wlan["signal_dbm"], wlan["channel"]) == ("wpa2-psk", -79, 44)
    patches = r["patches"]
    # German Windows 11 23H2 history: KB5036980 twice, the newest on 04/26/2024 20:07:35.
    assert patches["last_install"] == "2024-04-26T20:07:35Z"
    assert (patches["update_policy"], patches["auto_updates"]) == ("intune", True)
    assert patches["reboot_required"] is True  # PendingFileRenameOperations
    # systeminfo's hotfix list (commands/001.out): "1 Hotfix(s) Installed. [01]: KB5008215".
    assert patches["installed_kbs"] == ["KB5008215"]
    # No registry firewall part: netsh's Public profile, State ON.
    assert r["security"]["firewall"] is True
    # SMBv1 client driver on demand; RDP off by Group Policy over the local "allow".
    assert (r["security"]["smb1"], r["security"]["rdp"]) == (True, {"enabled": False, "nla": True})
    assert r["security"]["disk_encryption"][0]["method"] == "XTS-AES 128"
    assert len(r["software"]) == 62


def test_macbook_pro():
    r = replay("darwin-macbook-pro-m2")
    assert r["os"]["family"] == "darwin"
    assert (r["host"]["serial"], r["host"]["model"], r["host"]["chassis"]) == (
        "D5XQV1FMFJ",
        "MacBook Pro",
        "laptop",
    )
    assert r["hardware"]["memory_bytes"] == 16 * 1024**3
    # Another Apple silicon laptop's SPPowerDataType: "Cycle Count: 1", "Maximum Capacity:
    # 100 %"; mAh only, so no Wh figures (said in the errors).
    assert r["hardware"]["battery"] == {
        "design_capacity_wh": None,
        "full_capacity_wh": None,
        "health": 1.0,
        "cycle_count": 1,
    }
    [en0] = r["wlan"]["interfaces"]
    assert (en0["ssid"], en0["security"], en0["signal_dbm"], en0["frequency_mhz"]) == (
        "SSID-7",
        "wpa2-psk",
        -58,
        2437,
    )
    assert len(r["wlan"]["visible"]) == 6


def test_macbook_pro_full_report():
    r = replay("darwin-macbook-pro-m2")
    assert (r["os"]["name"], r["os"]["version"], r["os"]["build"]) == ("macOS", "12.0.1", "21A559")
    # system_profiler's two monitors (the Sidecar iPad is left out), then ioreg's external
    # monitor: the two captures come from two Macs with different monitors (SOURCES.md).
    dell, lcd, p2421 = r["displays"]
    assert (dell["model"], dell["vendor_pnp"], dell["native_width_px"], dell["refresh_hz"]) == (
        "DELL U3419W",
        "DEL",
        3440,
        60.0,
    )
    assert (lcd["internal"], lcd["native_width_px"], lcd["native_height_px"], lcd["scale"]) == (
        True,
        3456,
        2234,
        2.0,
    )
    # Neither was measured by the ioreg capture: no size, and said so.
    for display in (dell, lcd):
        assert (display["width_cm"], display["height_cm"], display["diagonal_in"]) == (
            None,
            None,
            None,
        )
    messages = [e["message"] for e in r["collection"]["errors"]]
    assert any(
        m.startswith("DELL U3419W: system_profiler reports no physical size") for m in messages
    )
    assert any(
        m.startswith("Color LCD: system_profiler reports no physical size") for m in messages
    )
    # The capture's own built-in panel (2560 x 1600, no size in its DisplayAttributes) is not
    # this MacBook Pro's 3456 x 2234 panel: not used, and said so.
    assert any("built-in panel (2560x1600)" in m for m in messages)
    # The DELL P2421DC as the capture's DisplayAttributes give it: ProductName "DELL P2421DC",
    # LegacyManufacturerID 4268 (0x10ac, DEL), ProductID 53496, AlphanumericSerialNumber
    # "4S0QR63", YearOfManufacture 2021, NativeFormat 2560 x 1440, Transport downstream "DP",
    # MaxHorizontalImageSize 53 and MaxVerticalImageSize 30 (cm): sqrt(53² + 30²) / 2.54 = 23.98.
    assert (p2421["model"], p2421["vendor_pnp"], p2421["product_code"], p2421["serial"]) == (
        "DELL P2421DC",
        "DEL",
        53496,
        "4S0QR63",
    )
    assert (p2421["width_cm"], p2421["height_cm"], p2421["diagonal_in"]) == (53, 30, 24.0)
    assert (p2421["native_width_px"], p2421["native_height_px"], p2421["year"]) == (
        2560,
        1440,
        2021,
    )
    assert (p2421["internal"], p2421["connector"], p2421["refresh_hz"]) == (False, "DP", None)
    assert r["security"]["firewall"] is True
    assert r["security"]["disk_encryption"] == [
        {"mount": "/", "encrypted": True, "method": "FileVault"}
    ]
    assert r["patches"]["pending_count"] == 1 and r["patches"]["reboot_required"] is True
    assert len(r["software"]) == 14
    assert {
        "name": "Photos",
        "version": "9.0",
        "publisher": "Apple Inc.",
        "install_date": None,
        "source": None,
        "source_version": None,
    } in r["software"]
