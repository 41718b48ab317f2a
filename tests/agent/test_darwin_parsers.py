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


@pytest.mark.parametrize("name", ["sp-hardware-m2.json", "sp-airport-15.5.json"])
def test_truncated_profiler_json_is_an_error_not_a_crash(name):
    text = read(name)
    parser = system_profiler.parse_hardware if "hardware" in name else system_profiler.parse_airport
    for cut in (0, 1, len(text) // 2, len(text) - 2):
        with pytest.raises(system_profiler.ProfilerError):
            parser(text[:cut])
