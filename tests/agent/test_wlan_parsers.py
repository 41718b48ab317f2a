"""WLAN parsers on real output (tests/fixtures/linux/wlan, see SOURCES.md there).

Expected values were read off the fixture files by hand.
"""

from __future__ import annotations

import pytest

from agent.parsers import iw, nmcli, wlan_security, wpa_cli
from tests.fakes import FIXTURES

WLAN = FIXTURES / "linux" / "wlan"


def read(name: str) -> str:
    return (WLAN / name).read_text(encoding="utf-8")


# --- nmcli -------------------------------------------------------------------------------


def test_split_terse_unescapes_colons_and_backslashes() -> None:
    assert nmcli.split_terse(r"a\:b:c\\d:") == ["a:b", "c\\d", ""]


def test_nmcli_wifi_list() -> None:
    aps = nmcli.parse_wifi_list(read("nmcli-wifi-list.out"))
    # three APs on wlan0, a blank line, one on wlan1
    assert [(a.device, a.ssid) for a in aps] == [
        ("wlan0", "wlan0-ap-2"),
        ("wlan0", "wlan0-ap-1"),
        ("wlan0", "wlan0-ap-3"),
        ("wlan1", "wlan1-ap-4"),
    ]
    first = aps[0]
    assert first.bssid == "C0:E2:BE:E8:EF:B6"  # escaped "C0\:E2\:..." in the file
    assert first.mode == "Infra"
    assert first.channel == 1
    assert first.frequency_mhz == 2412
    assert first.rate_mbps == 54.0
    assert first.signal_percent == 92
    assert first.security == "WPA1 WPA2"
    assert first.wpa_flags == "pair_tkip pair_ccmp group_tkip group_ccmp psk"
    assert first.active is False
    assert aps[1].rsn_flags == "(none)"
    assert [a.signal_percent for a in aps] == [92, 81, 55, 48]
    assert [a.security for a in aps] == ["WPA1 WPA2", "WPA1", "WPA3", "WPA1 WPA2"]


def test_nmcli_wifi_list_security_mapping() -> None:
    aps = nmcli.parse_wifi_list(read("nmcli-wifi-list.out"))
    got = [wlan_security.from_nm_ap(a.security, a.wpa_flags, a.rsn_flags) for a in aps]
    # WPA1+WPA2 mixed with TKIP, WPA1 only, SAE only, WPA1+WPA2 again
    assert got == ["wpa-psk", "wpa-psk", "wpa3-sae", "wpa-psk"]


def test_nmcli_device_status() -> None:
    devices = nmcli.parse_devices(read("nmcli-device-status.out"))
    assert [(d.name, d.type, d.state, d.connection) for d in devices] == [
        ("wlan0", "wifi", "connected", "con-vpn-1"),
        ("eth0", "ethernet", "unavailable", None),
        ("eth1", "ethernet", "unavailable", None),
        ("wlan1", "wifi", "unavailable", None),
        ("wlan1", "wifi", "unavailable", None),
    ]
    assert nmcli.is_connected_state(devices[0].state) is True
    assert nmcli.is_connected_state(devices[1].state) is False
    assert nmcli.is_connected_state("unmanaged") is None


def test_nmcli_connections() -> None:
    conns = nmcli.parse_connections(read("nmcli-connection-uuid-type.out"))
    assert len(conns) == 6
    assert conns[1].uuid == "5fcfd6d7-1e63-3332-8826-a7eda103792d"
    assert [c.type for c in conns] == [
        "802-3-ethernet",
        "802-3-ethernet",
        "gsm",
        "gsm",
        "gsm",
        "802-3-ethernet",
    ]


def test_nmcli_properties_multi() -> None:
    blocks = nmcli.parse_properties(read("nmcli-connection-show-multi.out"))
    assert [b["connection.id"] for b in blocks] == ["con-1", "con-vpn-1", "con-xx1"]
    assert blocks[2]["connection.type"] == "802-11-wireless"
    assert blocks[1]["vpn.user-name"] == ""
    # the ethernet profile has no 802-3-ethernet.mac-address line: absent, not empty
    assert "802-3-ethernet.mac-address" not in blocks[0]


def test_nmcli_profile_without_security_setting() -> None:
    # con-xx1 is a wifi profile; no 802-11-wireless-security lines were asked for or shown
    text = read("nmcli-connection-show-multi.out").split("\n\n")[2]
    profile = nmcli.parse_profile(text)
    assert profile is not None
    assert profile.name == "con-xx1"
    assert profile.has_security_setting is False
    assert profile.key_mgmt is None
    assert profile.ssid is None  # not requested in that command


# --- iw ----------------------------------------------------------------------------------


def test_iw_dev_managed() -> None:
    ifaces = iw.parse_dev(read("iw-dev-wifiphisher-443.out"))
    assert [(i.name, i.phy, i.type, i.addr) for i in ifaces] == [
        ("wlan1", "phy0", "managed", "4a:12:b1:d8:97:e8"),
        ("wlan0", "phy1", "managed", "9e:e4:f5:b2:42:ff"),
    ]
    assert ifaces[0].ssid is None


def test_iw_dev_ap_with_spaces_and_txq_table() -> None:
    ifaces = iw.parse_dev(read("iw-dev-mt76-352.out"))
    assert [(i.name, i.type, i.ssid, i.frequency_mhz) for i in ifaces] == [
        ("ath1.1", "AP", "xxxxxx", 5500),
        ("ath1", "AP", "AGT1337-5.0G", 5500),
    ]


def test_iw_link_vht() -> None:
    link = iw.parse_link(read("iw-link-cinnamon-9301.out"))
    assert link == iw.Link(
        connected=True,
        bssid="64:d1:54:68:93:ae",
        ssid="HOME5",
        frequency_mhz=5280,
        signal_dbm=-44,
        tx_rate_mbps=866.7,
    )


def test_iw_link_redacted_with_bss_flags() -> None:
    link = iw.parse_link(read("iw-link-rtl8812au-42.out"))
    assert link is not None
    assert link.connected
    assert link.bssid == "xx:xx"
    assert link.ssid == "xxx"
    assert link.frequency_mhz == 5300
    assert link.signal_dbm == -60
    assert link.tx_rate_mbps == 173.3


def test_iw_link_unrecognised() -> None:
    assert iw.parse_link("") is None


def test_iw_scan_open_old_format() -> None:
    bsses = iw.parse_scan(read("iw-scan-dump-jc-scan0.out"))
    assert [(b.bssid, b.ssid, b.frequency_mhz, b.channel, b.signal_dbm) for b in bsses] == [
        ("00:19:a9:cd:c6:80", "Cisco1240", 2412, 1, -45),
        ("d0:d0:fd:69:ca:70", "Cisco1250", 2462, 11, -70),
    ]
    # capability 0x0421: no Privacy bit, no RSN/WPA
    assert [b.security for b in bsses] == ["open", "open"]


def test_iw_scan_many() -> None:
    bsses = iw.parse_scan(read("iw-scan-dump-jc-scan1.out"))
    assert len(bsses) == 26
    by_bssid = {b.bssid: b for b in bsses}

    mixed = by_bssid["ac:22:05:db:4d:5b"]  # WPA + RSN, TKIP CCMP, PSK
    assert mixed.ssid == "Hoeheitsgebiet"
    assert (mixed.frequency_mhz, mixed.channel, mixed.signal_dbm) == (2412, 1, -57)
    assert mixed.security == "wpa-psk"

    rsn = by_bssid["1c:b0:44:75:42:a5"]  # RSN only, CCMP, PSK, MFP-capable
    assert (rsn.ssid, rsn.channel, rsn.signal_dbm) == ("o2-WLAN38", 10, -70)
    assert rsn.security == "wpa2-psk"
    assert rsn.mfp_required is False

    assoc = by_bssid["ac:22:05:e6:ff:24"]  # "-- associated", 5 GHz, RSN + WPA(TKIP)
    assert assoc.associated
    assert (assoc.frequency_mhz, assoc.channel, assoc.signal_dbm) == (5180, 36, -30)
    assert assoc.security == "wpa-psk"
    assert sum(b.associated for b in bsses) == 1

    hotspot = by_bssid["ae:22:15:db:4d:5b"]  # capability 0x1401: no Privacy, no IEs
    assert (hotspot.ssid, hotspot.security) == ("Vodafone Hotspot", "open")

    hidden = by_bssid["fe:49:2d:20:d8:21"]  # SSID of 21 \x00 bytes
    assert hidden.ssid is None
    assert hidden.security == "wpa2-psk"

    transition = by_bssid["34:31:c4:b8:2e:85"]  # "PSK 00-0f-ac:8" = PSK + SAE
    assert transition.ssid == "Nexus"
    assert transition.rsn_akms == ["PSK", "00-0f-ac:8"]
    assert transition.security == "wpa2-psk"  # the weaker PSK is accepted

    assert by_bssid["54:fa:3e:87:1f:93"].ssid == "moin moin"
    assert by_bssid["1c:b0:44:75:42:a8"].channel == 44  # freq 5220


def test_iw_scan_tabs_and_hex_privacy() -> None:
    [bss] = iw.parse_scan(read("iw-scan-dump-jc-scan2.out"))
    assert bss.bssid == "xx:xx:xx:xx:3e:41"
    assert bss.ssid == "Troubleshooting"
    assert (bss.frequency_mhz, bss.channel, bss.signal_dbm) == (2412, 1, -54)
    assert bss.privacy is True  # "capability: ESS (0x1431)": bit 0x10 set
    assert bss.rsn_akms == ["PSK"]
    assert bss.wpa_akms is None
    assert bss.security == "wpa2-psk"


# --- wpa_cli -----------------------------------------------------------------------------


def test_wpa_cli_completed() -> None:
    status = wpa_cli.parse_status(read("wpa_cli-status-completed-autoap-19.out"))
    assert status is not None
    assert status.wpa_state == "COMPLETED"
    assert status.connected is True
    assert status.ssid == "FRITZ!Box 7590 TN"
    assert status.bssid == "dc:39:6f:a7:98:f1"
    assert status.frequency_mhz == 2462
    assert status.key_mgmt == "WPA2-PSK"
    assert status.pairwise_cipher == "CCMP"
    assert status.group_cipher == "TKIP"
    # WPA2-PSK but TKIP as group cipher: the AP runs WPA/WPA2 mixed mode
    assert status.security == "wpa-psk"


def test_wpa_cli_associating() -> None:
    status = wpa_cli.parse_status(read("wpa_cli-status-associating-autoap-19.out"))
    assert status is not None
    assert status.wpa_state == "ASSOCIATING"
    assert status.connected is False
    assert status.ssid is None
    assert status.key_mgmt is None
    assert status.security is None


# --- the mapping and channel table -------------------------------------------------------


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        ("", "open"),
        ("WEP", "wep"),
        ("WPA1", "wpa-psk"),
        ("WPA1 WPA2", "wpa-psk"),
        ("WPA2", "wpa2-psk"),
        ("WPA2 WPA3", "wpa2-psk"),
        ("WPA3", "wpa3-sae"),
        ("WPA2 802.1X", "wpa2-enterprise"),
        ("OWE", "owe"),
        ("OWE-TM", "open"),
        ("something new", "unknown"),
    ],
)
def test_nmcli_security_words(security: str, expected: str) -> None:
    assert wlan_security.from_nmcli_security(security) == expected


@pytest.mark.parametrize(
    ("key_mgmt", "proto", "expected"),
    [
        ("", None, "open"),
        ("none", None, "wep"),
        ("ieee8021x", None, "wep"),
        ("wpa-psk", None, "wpa2-psk"),
        ("wpa-psk", "wpa", "wpa-psk"),
        ("wpa-psk", "rsn", "wpa2-psk"),
        ("sae", None, "wpa3-sae"),
        ("wpa-eap", None, "wpa2-enterprise"),
        ("wpa-eap-suite-b-192", None, "wpa3-enterprise"),
        ("owe", None, "owe"),
    ],
)
def test_nm_key_mgmt(key_mgmt: str, proto: str | None, expected: str) -> None:
    assert wlan_security.from_nm_key_mgmt(key_mgmt, proto) == expected


@pytest.mark.parametrize(
    ("key_mgmt", "pairwise", "group", "expected"),
    [
        ("NONE", None, None, "open"),
        ("NONE", "WEP-104", "WEP-104", "wep"),
        ("WPA-PSK", "TKIP", "TKIP", "wpa-psk"),
        ("WPA2-PSK", "CCMP", "CCMP", "wpa2-psk"),
        ("WPA2-PSK", "CCMP", "TKIP", "wpa-psk"),
        ("SAE", "CCMP", "CCMP", "wpa3-sae"),
        ("WPA2/IEEE 802.1X/EAP", "CCMP", "CCMP", "wpa2-enterprise"),
        ("WPA2-EAP-SUITE-B-192", "GCMP-256", "GCMP-256", "wpa3-enterprise"),
        ("OWE", "CCMP", "CCMP", "owe"),
    ],
)
def test_wpa_supplicant_key_mgmt(
    key_mgmt: str, pairwise: str | None, group: str | None, expected: str
) -> None:
    assert wlan_security.from_wpa_supplicant(key_mgmt, pairwise, group) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"privacy": False, "rsn_akms": None, "wpa_akms": None}, "open"),
        ({"privacy": True, "rsn_akms": None, "wpa_akms": None}, "wep"),
        ({"privacy": True, "rsn_akms": ["SAE"], "wpa_akms": None}, "wpa3-sae"),
        ({"privacy": True, "rsn_akms": ["PSK", "SAE"], "wpa_akms": None}, "wpa2-psk"),
        ({"privacy": True, "rsn_akms": ["IEEE 802.1X"], "wpa_akms": None}, "wpa2-enterprise"),
        (
            {"privacy": True, "rsn_akms": ["IEEE 802.1X/SUITE-B-192"], "wpa_akms": None},
            "wpa3-enterprise",
        ),
        (
            {
                "privacy": True,
                "rsn_akms": ["IEEE 802.1X/SHA-256"],
                "wpa_akms": None,
                "mfp_required": True,
            },
            "wpa3-enterprise",
        ),
        ({"privacy": True, "rsn_akms": ["OWE"], "wpa_akms": None}, "owe"),
        ({"privacy": None, "rsn_akms": None, "wpa_akms": None}, "unknown"),
    ],
)
def test_from_suites(kwargs: dict[str, object], expected: str) -> None:
    assert wlan_security.from_suites(**kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("freq", "channel"),
    [
        (2412, 1),
        (2472, 13),
        (2484, 14),
        (5180, 36),
        (5825, 165),
        (5955, 1),
        (5935, 2),
        (6115, 33),
        (7115, 233),
        (4920, 184),
        (60480, None),
        (None, None),
    ],
)
def test_freq_to_channel(freq: int | None, channel: int | None) -> None:
    assert wlan_security.freq_to_channel(freq) == channel
