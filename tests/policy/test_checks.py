"""Every shipped check on hand-made reports: pass, fail, unknown and not-applicable.

Checks without a not-applicable case (they have no `applies`: every host is in scope):
sec.updates.auto, sec.updates.security-pending, sec.os.supported, sec.firewall,
sec.services.legacy and sec.reboot.pending - updates, support, firewall, legacy services
and pending reboots matter on every device, server or kiosk included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from collector.policy import PolicySet
from tests.policy.helpers import GIB, NOW, base_report, make, run, windows10_laptop

NO_NOT_APPLICABLE = {
    "sec.updates.auto",
    "sec.updates.security-pending",
    "sec.os.supported",
    "sec.firewall",
    "sec.services.legacy",
    "sec.reboot.pending",
    "sec.agent.identity-changed",
    "sec.vuln.kev",
    "sec.vuln.critical",
}
# What the collector passes after matching a host (collector.findings.store.vuln_summaries).
MATCHED = {"matched": True, "kev_imported": True, "kev": [], "critical": []}

LIN = "linux"
WIN = "win10-laptop"
NOTEBOOK = {"host.chassis": "laptop", "hardware.volumes.0.system": True}
WLAN_UP = {
    "wlan.interfaces": [
        {
            "name": "wlan0",
            "connected": True,
            "ssid": "Rathaus",
            "security": "wpa2-psk",
            "cipher": "CCMP",
        }
    ]
}


def _wlan(security: str | None, cipher: str | None = "CCMP") -> dict[str, Any]:
    return {
        "wlan.interfaces": [
            {
                "name": "wlan0",
                "connected": True,
                "ssid": "X",
                "security": security,
                "cipher": cipher,
            }
        ]
    }


def _profiles(*profiles: tuple[str | None, bool | None]) -> dict[str, Any]:
    return {
        "wlan.interfaces": [{"name": "wlan0", "connected": False}],
        "wlan.profiles": [
            {"ssid": f"net{i}", "security": s, "autoconnect": a}
            for i, (s, a) in enumerate(profiles)
        ],
    }


PENDING_SEC = {
    "patches.pending": [
        {"name": "openssl", "installed": "3.0.15-1", "available": "3.0.16-1", "security": True}
    ],
    "patches.pending_count": 1,
    "patches.pending_security_count": 1,
}

# (check, expected status, base report, overrides, derive() keyword arguments / now)
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    # --- security
    ("sec.updates.auto", "pass", LIN, {}, {}),
    (
        "sec.updates.auto",
        "pass",
        LIN,
        {"patches.auto_updates": False, "host.tags": ["updates:central"]},
        {},
    ),
    ("sec.updates.auto", "fail", LIN, {"patches.auto_updates": False}, {}),
    ("sec.updates.auto", "unknown", LIN, {"patches.auto_updates": None}, {}),
    (
        "sec.updates.security-pending",
        "pass",
        LIN,
        PENDING_SEC,
        {"first_seen_pending": {"openssl": NOW - dt.timedelta(days=10)}},
    ),
    ("sec.updates.security-pending", "pass", LIN, PENDING_SEC, {}),  # single report: 0 days
    (
        "sec.updates.security-pending",
        "fail",
        LIN,
        PENDING_SEC,
        {"first_seen_pending": {"openssl": NOW - dt.timedelta(days=45)}},
    ),
    ("sec.updates.security-pending", "unknown", LIN, {"patches": None}, {}),
    (
        "sec.updates.security-pending",
        "unknown",
        LIN,
        {"patches.pending": None, "patches.pending_security_count": None},
        {},
    ),
    ("sec.os.supported", "pass", LIN, {}, {}),
    ("sec.os.supported", "fail", LIN, {"os.version": "10", "os.build": "10.13"}, {}),
    ("sec.os.supported", "fail", WIN, {}, {"now": dt.datetime(2025, 10, 15, tzinfo=dt.UTC)}),
    ("sec.os.supported", "unknown", LIN, {"os.name": "Gentoo", "os.version": "2.17"}, {}),
    ("sec.os.support-ending", "pass", LIN, {}, {}),
    ("sec.os.support-ending", "fail", WIN, {}, {}),  # 2025-10-14 is 134 days away
    ("sec.os.support-ending", "unknown", LIN, {"os.version": None}, {}),
    ("sec.os.support-ending", "not-applicable", LIN, {"os.version": "10"}, {}),  # ended
    ("sec.firewall", "pass", LIN, {}, {}),
    ("sec.firewall", "fail", LIN, {"security.firewall": False}, {}),
    ("sec.firewall", "unknown", LIN, {"security.firewall": None}, {}),
    (
        "sec.disk.encryption",
        "pass",
        LIN,
        {**NOTEBOOK, "security.disk_encryption.0.encrypted": True},
        {},
    ),
    ("sec.disk.encryption", "fail", LIN, NOTEBOOK, {}),
    (
        "sec.disk.encryption",
        "unknown",
        LIN,
        {**NOTEBOOK, "security.disk_encryption.0.encrypted": None},
        {},
    ),
    ("sec.disk.encryption", "unknown", LIN, {**NOTEBOOK, "security.disk_encryption": None}, {}),
    ("sec.disk.encryption", "unknown", LIN, {"host.chassis": None}, {}),
    ("sec.disk.encryption", "not-applicable", LIN, {}, {}),
    ("sec.boot.secure-boot", "pass", LIN, {}, {}),
    ("sec.boot.secure-boot", "fail", LIN, {"security.secure_boot": False}, {}),
    ("sec.boot.secure-boot", "unknown", LIN, {"security.secure_boot": None}, {}),
    (
        "sec.boot.secure-boot",
        "not-applicable",
        LIN,
        {"os": {"family": "darwin", "name": "macOS", "version": "14.5"}},
        {},
    ),
    ("sec.screenlock", "pass", LIN, {}, {}),
    ("sec.screenlock", "fail", LIN, {"security.screen_lock.timeout_s": 1800}, {}),
    ("sec.screenlock", "fail", LIN, {"security.screen_lock.password": False}, {}),
    ("sec.screenlock", "fail", LIN, {"security.screen_lock.timeout_s": 0}, {}),
    (
        "sec.screenlock",
        "fail",
        LIN,  # a known failure wins over an unknown fact
        {"security.screen_lock.enabled": False, "security.screen_lock.timeout_s": None},
        {},
    ),
    ("sec.screenlock", "unknown", LIN, {"security.screen_lock": None}, {}),
    ("sec.screenlock", "unknown", LIN, {"security.screen_lock.timeout_s": None}, {}),
    ("sec.screenlock", "not-applicable", LIN, {"host.role": "kiosk"}, {}),
    ("sec.antivirus", "pass", WIN, {}, {}),
    (
        "sec.antivirus",
        "fail",
        WIN,
        {"security.antivirus.0.signatures_updated": "2025-05-20T08:00:00Z"},
        {},
    ),
    ("sec.antivirus", "fail", WIN, {"security.antivirus.0.realtime": False}, {}),
    ("sec.antivirus", "fail", WIN, {"security.antivirus": []}, {}),
    ("sec.antivirus", "unknown", WIN, {"security.antivirus.0.realtime": None}, {}),
    ("sec.antivirus", "unknown", WIN, {"security.antivirus.0.signatures_updated": None}, {}),
    ("sec.antivirus", "not-applicable", LIN, {}, {}),
    ("sec.ssh.root-login", "pass", LIN, {}, {}),
    ("sec.ssh.root-login", "pass", LIN, {"security.ssh.permit_root_login": "no"}, {}),
    ("sec.ssh.root-login", "fail", LIN, {"security.ssh.permit_root_login": "yes"}, {}),
    ("sec.ssh.root-login", "fail", LIN, {"security.ssh.permit_empty_passwords": True}, {}),
    (
        "sec.ssh.root-login",
        "fail",
        LIN,
        {"security.ssh.permit_root_login": None, "security.ssh.permit_empty_passwords": True},
        {},
    ),
    ("sec.ssh.root-login", "unknown", LIN, {"security.ssh.permit_root_login": None}, {}),
    ("sec.ssh.root-login", "not-applicable", LIN, {"security.ssh": None}, {}),
    ("sec.services.legacy", "pass", LIN, {}, {}),
    ("sec.services.legacy", "fail", LIN, {"security.smb1": True}, {}),
    (
        "sec.services.legacy",
        "fail",
        LIN,
        {
            "network.listening.1": {
                "proto": "tcp",
                "address": "0.0.0.0",
                "port": 23,
                "process": "inetd",
            }
        },
        {},
    ),
    (
        "sec.services.legacy",
        "fail",
        LIN,
        {
            "security.smb1": None,
            "network.listening.1": {
                "proto": "tcp6",
                "address": "::",
                "port": 21,
                "process": "vsftpd",
            },
        },
        {},
    ),
    ("sec.services.legacy", "unknown", LIN, {"security.smb1": None}, {}),
    ("sec.services.legacy", "unknown", LIN, {"network.listening": None}, {}),
    ("sec.wlan.encryption", "pass", LIN, WLAN_UP, {}),
    ("sec.wlan.encryption", "pass", LIN, _wlan("wpa3-sae", None), {}),
    ("sec.wlan.encryption", "fail", LIN, _wlan("open", None), {}),
    ("sec.wlan.encryption", "fail", LIN, _wlan("wep", "WEP104"), {}),
    ("sec.wlan.encryption", "fail", LIN, _wlan("wpa-psk", "TKIP"), {}),
    ("sec.wlan.encryption", "fail", LIN, _wlan("wpa2-psk", "TKIP"), {}),
    ("sec.wlan.encryption", "unknown", LIN, _wlan("unknown", None), {}),
    ("sec.wlan.encryption", "unknown", LIN, _wlan(None, None), {}),
    ("sec.wlan.encryption", "unknown", LIN, {"wlan": None}, {}),
    ("sec.wlan.encryption", "not-applicable", LIN, {}, {}),
    ("sec.wlan.profiles", "pass", LIN, _profiles(("wpa2-psk", True), ("open", False)), {}),
    ("sec.wlan.profiles", "fail", LIN, _profiles(("wpa2-psk", True), ("open", True)), {}),
    ("sec.wlan.profiles", "fail", LIN, _profiles(("wep", True), (None, None)), {}),
    ("sec.wlan.profiles", "unknown", LIN, _profiles(("wpa2-psk", True), (None, True)), {}),
    ("sec.wlan.profiles", "unknown", LIN, {"wlan.profiles": None, "wlan.interfaces": None}, {}),
    ("sec.wlan.profiles", "not-applicable", LIN, {}, {}),
    ("sec.reboot.pending", "pass", LIN, {}, {}),
    ("sec.reboot.pending", "fail", LIN, {"patches.reboot_required": True}, {}),
    ("sec.reboot.pending", "unknown", LIN, {"patches.reboot_required": None}, {}),
    ("sec.vuln.kev", "pass", LIN, {}, {"vulns": MATCHED}),
    ("sec.vuln.kev", "fail", LIN, {}, {"vulns": {**MATCHED, "kev": ["CVE-2023-36033"]}}),
    ("sec.vuln.kev", "unknown", LIN, {}, {}),  # never matched
    ("sec.vuln.kev", "unknown", LIN, {}, {"vulns": {**MATCHED, "kev_imported": False}}),
    ("sec.vuln.critical", "pass", LIN, {}, {"vulns": MATCHED}),
    ("sec.vuln.critical", "fail", LIN, {}, {"vulns": {**MATCHED, "critical": ["CVE-1"]}}),
    ("sec.vuln.critical", "unknown", LIN, {}, {}),
    ("sec.mac.enforcing", "pass", LIN, {}, {}),
    ("sec.mac.enforcing", "fail", LIN, {"security.mac_enforcing": False}, {}),
    ("sec.mac.enforcing", "unknown", LIN, {"security.mac_enforcing": None}, {}),
    ("sec.mac.enforcing", "not-applicable", WIN, {}, {}),
    ("sec.agent.identity-changed", "pass", LIN, {}, {"identity_change": (False, None)}),
    (
        "sec.agent.identity-changed",
        "fail",
        WIN,
        {},
        {"identity_change": (True, "serial 6YSTYN1 -> 4ZKM0Z2")},
    ),
    ("sec.agent.identity-changed", "unknown", LIN, {}, {}),  # one report: no history
    # --- ergonomics
    ("erg.display.size", "pass", LIN, {}, {}),
    ("erg.display.size", "pass", LIN, {"displays.0.diagonal_in": 21.3}, {}),  # EDID rounding
    ("erg.display.size", "fail", LIN, {"displays.0.diagonal_in": 19.0}, {}),
    ("erg.display.size", "unknown", LIN, {"displays.0.diagonal_in": None}, {}),
    ("erg.display.size", "unknown", LIN, {"displays": []}, {}),
    ("erg.display.size", "unknown", LIN, {"host.role": None}, {}),
    ("erg.display.size", "not-applicable", LIN, {"host.role": "classroom"}, {}),
    ("erg.display.size", "not-applicable", WIN, {}, {}),
    ("erg.display.native-resolution", "pass", WIN, {}, {}),
    (
        "erg.display.native-resolution",
        "fail",
        LIN,
        {"displays.0.current_width_px": 1600, "displays.0.current_height_px": 900},
        {},
    ),
    (
        "erg.display.native-resolution",
        "fail",
        WIN,  # one wrong display fails, despite unknowns
        {"displays.0.current_width_px": None, "displays.1.current_width_px": 1280},
        {},
    ),
    ("erg.display.native-resolution", "unknown", LIN, {"displays.0.current_width_px": None}, {}),
    ("erg.display.native-resolution", "unknown", LIN, {"displays.0.native_height_px": None}, {}),
    ("erg.display.native-resolution", "not-applicable", LIN, {"host.role": "server"}, {}),
    ("erg.display.native-resolution", "not-applicable", LIN, {"displays": []}, {}),
    ("erg.notebook.external", "pass", WIN, {}, {}),
    ("erg.notebook.external", "fail", WIN, {"inputs.external_keyboard": False}, {}),
    ("erg.notebook.external", "fail", WIN, {"displays": [windows10_laptop()["displays"][0]]}, {}),
    ("erg.notebook.external", "unknown", WIN, {"inputs": None}, {}),
    (
        "erg.notebook.external",
        "unknown",
        WIN,
        {"displays.1.internal": None, "displays.0.internal": None},
        {},
    ),
    ("erg.notebook.external", "not-applicable", LIN, {}, {}),
    ("erg.notebook.external", "not-applicable", WIN, {"host.role": "pupil-device"}, {}),
    ("erg.display.refresh", "pass", LIN, {"displays.0.refresh_hz": 59.94}, {}),
    ("erg.display.refresh", "fail", LIN, {"displays.0.refresh_hz": 30.0}, {}),
    ("erg.display.refresh", "unknown", LIN, {"displays.0.refresh_hz": None}, {}),
    ("erg.display.refresh", "not-applicable", LIN, {"host.role": "kiosk"}, {}),
    ("erg.text.size", "pass", LIN, {}, {}),
    # 24" Full HD at 100 %: 10.3 px * 0.276 mm = 2.84 mm -> 19.5 arcmin: passes the minimum
    ("erg.text.size", "pass", LIN, {"displays.0.scale": 1.0}, {}),
    # 13.3" 4K-ish panel (29.4 cm, 3840 px) at 100 %: 0.79 mm -> 5.4 arcmin
    (
        "erg.text.size",
        "fail",
        LIN,
        {"displays.0.width_cm": 29.4, "displays.0.current_width_px": 3840, "displays.0.scale": 1.0},
        {},
    ),
    ("erg.text.size", "unknown", LIN, {"displays.0.scale": None}, {}),
    ("erg.text.size", "unknown", LIN, {"displays.0.width_cm": None}, {}),
    ("erg.text.size", "not-applicable", LIN, {"host.role": "classroom"}, {}),
    # --- lifecycle
    ("life.device.age", "pass", LIN, {}, {}),
    ("life.device.age", "fail", LIN, {"host.bios_date": "2018-01-15"}, {}),
    (
        "life.device.age",
        "pass",
        LIN,  # purchase date beats the (old) BIOS date
        {"host.bios_date": "2018-01-15"},
        {"purchase_date": dt.date(2023, 9, 1)},
    ),
    ("life.device.age", "fail", WIN, {"host.bios_date": "2020-01-10"}, {}),  # laptop: 4 y
    ("life.device.age", "unknown", LIN, {"host.bios_date": None}, {}),
    ("life.device.age", "unknown", LIN, {"host.chassis": None}, {}),
    ("life.device.age", "not-applicable", LIN, {"host.chassis": "vm"}, {}),
    ("life.memory", "pass", LIN, {}, {}),
    ("life.memory", "pass", LIN, {"hardware.memory_bytes": 8 * GIB - 400 * 1024**2}, {}),
    ("life.memory", "fail", LIN, {"hardware.memory_bytes": 4 * GIB}, {}),
    ("life.memory", "unknown", LIN, {"hardware.memory_bytes": None}, {}),
    ("life.memory", "not-applicable", LIN, {"host.chassis": "vm"}, {}),
    ("life.win11.ready", "pass", WIN, {}, {}),
    ("life.win11.ready", "fail", WIN, {"hardware.tpm.version": "1.2"}, {}),
    (
        "life.win11.ready",
        "fail",
        WIN,
        {"hardware.cpu_model": "Intel(R) Core(TM) i5-6500 CPU @ 3.20GHz"},
        {},
    ),
    (
        "life.win11.ready",
        "fail",
        WIN,  # a failed requirement wins over an unknown CPU
        {"hardware.cpu_model": "Intel(R) Pentium(R) Silver N5000", "hardware.uefi": False},
        {},
    ),
    ("life.win11.ready", "fail", WIN, {"hardware.disks.0.size_bytes": 32_000_000_000}, {}),
    (
        "life.win11.ready",
        "unknown",
        WIN,
        {"hardware.cpu_model": "Intel(R) Pentium(R) Silver N5000"},
        {},
    ),
    ("life.win11.ready", "unknown", WIN, {"hardware.tpm": None}, {}),
    ("life.win11.ready", "unknown", WIN, {"os.build": None, "os.version": None}, {}),
    ("life.win11.ready", "not-applicable", LIN, {}, {}),
    (
        "life.win11.ready",
        "not-applicable",
        WIN,
        {"os.name": "Windows 10 Pro", "os.build": "22631.4460"},
        {},
    ),  # Win 11 by build
    ("life.battery.health", "pass", WIN, {}, {}),
    ("life.battery.health", "fail", WIN, {"hardware.battery.health": 0.41}, {}),
    (
        "life.battery.health",
        "fail",
        WIN,  # health missing: computed from the capacities
        {"hardware.battery.health": None, "hardware.battery.full_capacity_wh": 20.0},
        {},
    ),
    (
        "life.battery.health",
        "unknown",
        WIN,
        {"hardware.battery.health": None, "hardware.battery.full_capacity_wh": None},
        {},
    ),
    ("life.battery.health", "unknown", WIN, {"hardware.battery": None}, {}),
    ("life.battery.health", "not-applicable", LIN, {}, {}),
]


def _report(base: str, overrides: dict[str, Any]) -> dict[str, Any]:
    return make(overrides, windows10_laptop() if base == WIN else base_report())


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)],
)
def test_check(
    policies: PolicySet, case: tuple[str, str, str, dict[str, Any], dict[str, Any]]
) -> None:
    check, status, base, overrides, kwargs = case
    report = _report(base, overrides)
    result = run(policies, report, check, **kwargs)
    assert result.status == status, result.message


def test_every_check_has_all_cases(policies: PolicySet) -> None:
    covered: dict[str, set[str]] = {}
    for check_id, status, *_ in CASES:
        covered.setdefault(check_id, set()).add(status)
    for check in policies.checks:
        wanted = {"pass", "fail", "unknown"}
        if check.id not in NO_NOT_APPLICABLE:
            wanted.add("not-applicable")
        assert wanted <= covered.get(check.id, set()), check.id
        # a check without `applies` really has no not-applicable case
        assert (check.applies is None) == (check.id in NO_NOT_APPLICABLE), check.id


def test_fail_messages_carry_detail(policies: PolicySet) -> None:
    report = make({"displays.0.refresh_hz": 30.0})
    result = run(policies, report, "erg.display.refresh")
    assert "card0-DP-1 at 30 Hz" in result.message
    result = run(policies, _report(WIN, {}), "sec.os.support-ending")
    assert "134 days" in result.message
    result = run(policies, _report(WIN, {}), "sec.agent.identity-changed",
                 identity_change=(True, "serial 6YSTYN1 -> 4ZKM0Z2"))  # fmt: skip
    assert "hardware identity changed: serial 6YSTYN1 -> 4ZKM0Z2" in result.message


def test_missing_key_is_unknown_not_fail(policies: PolicySet) -> None:
    # A report of an older agent without `security.firewall` at all.
    report = make({})
    del report["security"]["firewall"]
    assert run(policies, report, "sec.firewall").status == "unknown"


def test_german_titles(policies: PolicySet) -> None:
    from collector.policy import derive, evaluate

    report = make({"security.firewall": False})
    facts = derive(report, policies.reference, NOW)
    results = {r.check: r for r in evaluate(policies, report, facts, lang="de")}
    # A failure says what is wrong (the title says what passing means).
    assert results["sec.firewall"].message == "Die Host-Firewall ist ausgeschaltet"
    assert results["sec.boot.secure-boot"].status == "pass"
    assert results["sec.boot.secure-boot"].message == "Secure Boot ist aktiv"
