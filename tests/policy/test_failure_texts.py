"""Every shipped check says, when it fails, what is wrong on that host — in German and in
English, built from the host's facts (the texts below are written by hand from the packs'
intent, not copied from the engine's output)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from collector.policy import PolicySet, derive, evaluate
from collector.policy.failure import words
from tests.policy.helpers import GIB, NOW, make, windows10_laptop

WIN = "win10"
LIN = "linux"


def results_for(
    policies: PolicySet, base: str, overrides: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    report = make(overrides, windows10_laptop() if base == WIN else None)
    facts = derive(report, policies.reference, kwargs.pop("now", NOW), **kwargs)
    return {r.check: r for r in evaluate(policies, report, facts)}


OPEN_WLAN = {"wlan.interfaces": [{"name": "wlan0", "connected": True, "ssid": "Kita-Gast",
                                  "security": "open", "cipher": None}]}  # fmt: skip
# check id -> (base report, overrides, derive() arguments, German text, English text)
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], str, str]] = {
    "sec.updates.auto": (
        LIN, {"patches.auto_updates": False}, {},
        "Updates werden nicht automatisch installiert (apt) und das Gerät ist nicht als "
        "zentral verwaltet gekennzeichnet",
        "Updates are not installed automatically (apt) and the device is not tagged as "
        "centrally managed",
    ),
    "sec.updates.security-pending": (
        LIN,
        {"patches.pending": [{"name": n, "security": True} for n in ("a", "b", "c")],
         "patches.pending_count": 3, "patches.pending_security_count": 3},
        {"first_seen_pending": {"a": NOW - dt.timedelta(days=41)}},
        "3 Sicherheitsupdates seit 41 Tagen ausstehend",
        "3 security updates pending for 41 days",
    ),
    "sec.os.supported": (
        LIN, {"os.name": "Debian GNU/Linux", "os.version": "10", "os.build": "10.13"}, {},
        "Debian 10 buster: Herstellersupport seit 337 Tagen beendet",
        "Debian 10 buster: vendor support ended 337 days ago",
    ),
    "sec.os.support-ending": (
        WIN, {}, {},
        "Der Herstellersupport für Windows 10 22H2 (enterprise_education) endet in 134 Tagen",
        "Vendor support for Windows 10 22H2 (enterprise_education) ends in 134 days",
    ),
    "sec.firewall": (
        LIN, {"security.firewall": False}, {},
        "Die Host-Firewall ist ausgeschaltet", "The host firewall is off",
    ),
    "sec.disk.encryption": (
        WIN, {"security.disk_encryption.0.encrypted": False}, {},
        "Das Systemlaufwerk (C:\\) ist nicht verschlüsselt",
        "The system volume (C:\\) is not encrypted",
    ),
    "sec.boot.secure-boot": (
        LIN, {"security.secure_boot": False}, {},
        "Secure Boot ist ausgeschaltet", "Secure Boot is off",
    ),
    "sec.screenlock": (
        LIN, {"security.screen_lock.timeout_s": 1800}, {},
        "Die Bildschirmsperre greift erst nach 30 Minuten Inaktivität (höchstens 15)",
        "The screen lock starts only after 30 minutes of inactivity (at most 15)",
    ),
    "sec.antivirus": (
        WIN, {"security.antivirus.0.signatures_updated": "2025-05-28T00:00:00Z"}, {},
        "Die Virensignaturen sind 5,5 Tage alt (höchstens 3)",
        "The anti-malware signatures are 5.5 days old (at most 3)",
    ),
    "sec.ssh.root-login": (
        LIN, {"security.ssh.permit_root_login": "yes"}, {},
        "Der SSH-Server erlaubt die Root-Anmeldung mit Passwort (PermitRootLogin yes)",
        "The SSH server allows root to log in with a password (PermitRootLogin yes)",
    ),
    "sec.services.legacy": (
        LIN,
        {"network.listening": [{"proto": "tcp", "address": "0.0.0.0", "port": 23},
                               {"proto": "tcp6", "address": "::", "port": 23}]},
        {},
        "Veraltete Dienste lauschen: Telnet (Port 23)",
        "Legacy services listen: telnet (port 23)",
    ),
    "sec.wlan.encryption": (
        LIN, OPEN_WLAN, {},
        "Verbunden mit dem offenen WLAN „Kita-Gast“",
        "Connected to the open WLAN “Kita-Gast”",
    ),
    "sec.wlan.profiles": (
        LIN,
        {"wlan.profiles": [{"ssid": "Kita-Gast", "security": "open", "autoconnect": True},
                           {"ssid": "Alt", "security": "wep", "autoconnect": True},
                           {"ssid": "Schule", "security": "wpa2-psk", "autoconnect": True}]},
        {},
        "Unsichere WLAN-Profile verbinden sich automatisch: Kita-Gast (offen) / Alt (WEP)",
        "Insecure WLAN profiles connect automatically: Kita-Gast (open) / Alt (WEP)",
    ),
    "sec.reboot.pending": (
        LIN, {"patches.reboot_required": True}, {},
        "Ein Neustart zum Abschluss installierter Updates steht aus",
        "A reboot is pending to complete installed updates",
    ),
    "sec.mac.enforcing": (
        LIN, {"security.mac_enforcing": False, "security.mac_system": "selinux"}, {},
        "SELinux erzwingt keine Richtlinien", "SELinux is not enforcing",
    ),
    "sec.agent.identity-changed": (
        LIN, {}, {"identity_change": (True, "serial 6YSTYN1 -> 4ZKM0Z2")},
        "Die Hardware-Kennung hat sich geändert: serial 6YSTYN1 -> 4ZKM0Z2",
        "The hardware identity changed: serial 6YSTYN1 -> 4ZKM0Z2",
    ),
    "erg.display.size": (
        LIN, {"displays.0.diagonal_in": 19.0}, {},
        "Bildschirmdiagonale 19 Zoll (mindestens 21,5 Zoll)",
        "Display diagonal 19 inches (at least 21.5 inches)",
    ),
    "erg.display.native-resolution": (
        LIN, {"displays.0.current_width_px": 1600, "displays.0.current_height_px": 900}, {},
        "Nicht in nativer Auflösung: card0-DP-1 mit 1600×900 statt 1920×1080",
        "Not at native resolution: card0-DP-1 at 1600×900 instead of 1920×1080",
    ),
    "erg.notebook.external": (
        WIN, {"displays": [{"connector": "eDP-1", "internal": True, "diagonal_in": 14.0}],
              "inputs.external_pointing": False}, {},
        "Am Arbeitsplatz fehlt: externer Bildschirm / externe Maus",
        "The workplace lacks: an external display / an external mouse",
    ),
    "erg.display.refresh": (
        LIN, {"displays.0.refresh_hz": 30.0}, {},
        "Bildwiederholfrequenz unter 60 Hz: card0-DP-1 mit 30 Hz",
        "Refresh rate below 60 Hz: card0-DP-1 at 30 Hz",
    ),
    "erg.text.size": (
        # A 15.6" 4K panel at 100 % scaling: body text far too small (6.4 arc minutes by
        # data/ergonomics.yaml's formula; the number is checked as each language writes it).
        LIN, {"displays.0.scale": 1.0, "displays.0.diagonal_in": 15.6,
              "displays.0.width_cm": 34.5, "displays.0.height_cm": 19.4,
              "displays.0.native_width_px": 3840, "displays.0.native_height_px": 2160,
              "displays.0.current_width_px": 3840, "displays.0.current_height_px": 2160}, {},
        "Fließtext erscheint unter 6,4 Bogenminuten (mindestens 16, ASR A6 empfiehlt 22 bis 31)",
        "Body text appears at 6.4 arc minutes (minimum 16, ASR A6 recommends 22 to 31)",
    ),
    "life.device.age": (
        LIN, {"host.bios_date": "2017-06-02"}, {},
        "Das Gerät ist 8 Jahre alt (laut BIOS-Datum); Austausch nach 5 Jahren vorgesehen",
        "The device is 8 years old (by its BIOS date); replacement is due after 5 years",
    ),
    "life.memory": (
        LIN, {"hardware.memory_bytes": 4 * GIB}, {},
        "Nur 4 GiB Arbeitsspeicher (mindestens 8 GiB)",
        "Only 4 GiB of memory (at least 8 GiB)",
    ),
    "life.win11.ready": (
        WIN, {"hardware.tpm.version": "1.2", "security.secure_boot": False}, {},
        "Für Windows 11 fehlt: TPM 2.0 / Secure Boot",
        "Windows 11 lacks: TPM 2.0 / Secure Boot",
    ),
    "life.battery.health": (
        WIN, {"hardware.battery.health": 0.47}, {},
        "Der Akku hält noch 47 % der Nennkapazität (mindestens 60 %)",
        "The battery holds 47 % of its design capacity (at least 60 %)",
    ),
    "sec.vuln.kev": (
        LIN, {}, {"vulns": {"matched": True, "kev_imported": True, "critical": [],
                            "kev": ["CVE-2023-36025", "CVE-2023-36033"]}},
        "2 Schwachstellen werden laut CISA aktiv ausgenutzt: CVE-2023-36025, CVE-2023-36033",
        "2 vulnerabilities are exploited in the wild according to CISA: CVE-2023-36025, "
        "CVE-2023-36033",
    ),
    "sec.vuln.critical": (
        LIN, {}, {"vulns": {"matched": True, "kev_imported": False, "kev": [],
                            "critical": [f"CVE-2026-{i}" for i in range(1001, 1008)]}},
        "7 kritische Schwachstellen: CVE-2026-1001, CVE-2026-1002, CVE-2026-1003, "
        "CVE-2026-1004, CVE-2026-1005 (+2)",
        "7 critical vulnerabilities: CVE-2026-1001, CVE-2026-1002, CVE-2026-1003, "
        "CVE-2026-1004, CVE-2026-1005 (+2)",
    ),
}  # fmt: skip


def test_every_shipped_check_has_a_case(policies: PolicySet) -> None:
    assert sorted(CASES) == sorted(c.id for c in policies.checks)
    assert all(c.failure for c in policies.checks), "every shipped check has failure texts"


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_a_failing_host_is_told_what_is_wrong(policies: PolicySet, check_id: str) -> None:
    base, overrides, kwargs, german, english = CASES[check_id]
    result = results_for(policies, base, overrides, **kwargs)[check_id]
    assert result.status == "fail", result.message
    assert result.messages == {"de": german, "en": english}
    assert result.message == english  # the default language of findings


def test_an_unknown_value_in_a_text_is_said_so(policies: PolicySet) -> None:
    hidden = {"wlan.interfaces": [{"name": "wlan0", "connected": True, "ssid": None,
                                   "security": "open"}]}  # fmt: skip
    result = results_for(policies, LIN, hidden)["sec.wlan.encryption"]
    assert result.messages["de"] == "Verbunden mit dem offenen WLAN „unbekannt“"
    assert result.messages["en"] == "Connected to the open WLAN “unknown”"


def test_a_waived_failure_keeps_its_text(policies: PolicySet) -> None:
    from collector.policy import Waiver

    report = make({"security.firewall": False})
    facts = derive(report, policies.reference, NOW)
    waiver = Waiver("sec.firewall", "Appliance ohne Firewall", dt.date(2025, 12, 31),
                    host=report["host"]["hostname"])  # fmt: skip
    result = next(r for r in evaluate(policies, report, facts, [waiver])
                  if r.check == "sec.firewall")  # fmt: skip
    assert result.status == "waived"
    assert result.messages["de"] == (
        "Die Host-Firewall ist ausgeschaltet [Ausnahme bis 2025-12-31: Appliance ohne Firewall]"
    )
    assert result.messages["en"] == (
        "The host firewall is off [waived until 2025-12-31: Appliance ohne Firewall]"
    )


@pytest.mark.parametrize(
    ("value", "de", "en"),
    [(4.5, "4,5", "4.5"), (4.0, "4", "4"), (16.666, "16,7", "16.7"), (3, "3", "3"),
     (None, "unbekannt", "unknown"), ([1.5, 1.5, 2], "1,5 / 2", "1.5 / 2"), ([], "—", "—")],
)  # fmt: skip
def test_values_are_written_as_each_language_writes_them(value: Any, de: str, en: str) -> None:
    assert (words(value, "de"), words(value, "en")) == (de, en)


def test_os_support_says_older_and_newer_than_the_data_in_both_languages(
    policies: PolicySet,
) -> None:
    """The other texts of sec.os.supported: a release older than the data fails, one newer
    is unknown, each saying so (the data's date is the file's `updated`)."""
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    old = {"os": {"family": "linux", "name": "Debian GNU/Linux", "version": "3.1"}}
    result = results_for(policies, LIN, old, now=now)["sec.os.supported"]
    assert result.status == "fail"
    assert result.messages == {
        "de": "Debian GNU/Linux 3.1 ist älter als jede Debian-Version in "
        "policies/data/os_support.yaml (die älteste dort ist Debian 6 squeeze): keine "
        "Sicherheitsupdates des Herstellers mehr",
        "en": "Debian GNU/Linux 3.1 is older than every Debian release in "
        "policies/data/os_support.yaml (the oldest listed is Debian 6 squeeze): it no longer "
        "receives vendor security updates",
    }
    new = {"os": {"family": "linux", "name": "Ubuntu", "version": "40.04"}}
    result = results_for(policies, LIN, new, now=now)["sec.os.supported"]
    assert result.status == "unknown"
    assert result.messages == {
        "de": "Betriebssystem erhält Sicherheitsupdates des Herstellers: unbekannt (Ubuntu 40.04 "
        "ist neuer als jede Ubuntu-Version in policies/data/os_support.yaml (Stand 2026-12-06; "
        "die neueste dort ist Ubuntu 26.04 LTS resolute): die Daten zum Herstellersupport "
        "brauchen ein Update)",
        "en": "Operating system receives vendor security updates: unknown (Ubuntu 40.04 is "
        "newer than every Ubuntu release in policies/data/os_support.yaml (updated 2026-12-06; "
        "the newest listed is Ubuntu 26.04 LTS resolute): the OS support data needs an update)",
    }


def test_an_unknown_result_says_why_in_both_languages(policies: PolicySet) -> None:
    result = results_for(policies, LIN, {"security.firewall": None})["sec.firewall"]
    assert result.status == "unknown"
    assert result.messages == {
        "de": "Host-Firewall ist aktiv: unbekannt (ein benötigter Wert ist unbekannt)",
        "en": "Host firewall is active: unknown (a fact it needs is unknown (null))",
    }
