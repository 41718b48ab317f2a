"""The report schema keeps every field name of design.md's "Report, schema version 1"."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from agent.schema import Report, SchemaError, convert, json_schema

# Transcribed by hand from ../shared/design.md; a rename in agent/schema.py must fail here.
CONTRACT: dict[str, set[str]] = {
    "Report": {
        "schema_version",
        "report_id",
        "collected_at",
        "agent",
        "host",
        "os",
        "hardware",
        "displays",
        "inputs",
        "network",
        "wlan",
        "patches",
        "security",
        "software",
        "collection",
    },
    "AgentInfo": {"id", "version"},
    "Host": {
        "machine_id",
        "hostname",
        "fqdn",
        "serial",
        "manufacturer",
        "model",
        "chassis",
        "bios_date",
        "site",
        "role",
        "tags",
    },
    "OperatingSystem": {
        "family",
        "name",
        "version",
        "build",
        "edition",
        "kernel",
        "arch",
        "boot_time",
        "install_date",
    },
    "Hardware": {
        "cpu_model",
        "cpu_cores",
        "cpu_threads",
        "memory_bytes",
        "disks",
        "volumes",
        "battery",
        "tpm",
        "uefi",
    },
    "Disk": {"name", "model", "size_bytes", "rotational"},
    "Volume": {"mount", "size_bytes", "free_bytes", "system"},
    "Battery": {"design_capacity_wh", "full_capacity_wh", "health", "cycle_count"},
    "Tpm": {"present", "version"},
    "Display": {
        "connector",
        "internal",
        "vendor_pnp",
        "model",
        "serial",
        "width_cm",
        "height_cm",
        "diagonal_in",
        "native_width_px",
        "native_height_px",
        "current_width_px",
        "current_height_px",
        "refresh_hz",
        "scale",
        "year",
    },
    "Inputs": {"external_keyboard", "external_pointing"},
    "Network": {"interfaces", "default_gateway", "dns_servers", "listening"},
    "Interface": {"name", "mac", "addresses", "up", "speed_mbps", "kind"},
    "ListeningSocket": {"proto", "address", "port", "process"},
    "Wlan": {"interfaces", "profiles", "visible"},
    "WlanInterface": {
        "name",
        "connected",
        "ssid",
        "bssid",
        "security",
        "cipher",
        "frequency_mhz",
        "channel",
        "signal_dbm",
        "rate_mbps",
    },
    "WlanProfile": {"ssid", "security", "autoconnect"},
    "WlanNetwork": {"ssid", "bssid", "security", "signal_dbm", "channel"},
    "Patches": {
        "manager",
        "pending",
        "pending_count",
        "pending_security_count",
        "last_refresh",
        "last_install",
        "auto_updates",
        "reboot_required",
    },
    "PendingUpdate": {"name", "installed", "available", "security"},
    "Security": {
        "firewall",
        "disk_encryption",
        "secure_boot",
        "screen_lock",
        "antivirus",
        "ssh",
        "smb1",
        "rdp",
        "mac_enforcing",
    },
    "DiskEncryption": {"mount", "encrypted", "method"},
    "ScreenLock": {"enabled", "timeout_s", "password"},
    "Antivirus": {"name", "realtime", "signatures_updated"},
    "SshServer": {"permit_root_login", "permit_empty_passwords", "password_authentication"},
    "Rdp": {"enabled", "nla"},
    "Software": {"name", "version", "publisher"},
    "Collection": {"started_at", "duration_ms", "errors"},
    "CollectionError": {"probe", "message"},
}

WLAN_SECURITY = [
    "open",
    "wep",
    "wpa-psk",
    "wpa2-psk",
    "wpa2-enterprise",
    "wpa3-sae",
    "wpa3-enterprise",
    "owe",
    "unknown",
]


def test_every_contract_field_is_in_the_schema():
    schema = json_schema()
    defs = schema["$defs"]
    for model, fields in CONTRACT.items():
        props = schema["properties"] if model == "Report" else defs[model]["properties"]
        missing = fields - set(props)
        assert not missing, f"{model} lacks {sorted(missing)}"


def test_enumerations():
    defs = json_schema()["$defs"]
    # (The JSON Schema lists an enumeration's values sorted; their order means nothing.)
    security = defs["WlanInterface"]["properties"]["security"]["anyOf"][0]["enum"]
    assert sorted(security) == sorted(WLAN_SECURITY)
    chassis = defs["Host"]["properties"]["chassis"]["anyOf"][0]["enum"]
    assert sorted(chassis) == sorted(["desktop", "laptop", "tablet", "server", "vm", "other"])
    role = defs["Host"]["properties"]["role"]["anyOf"][0]["enum"]
    assert sorted(role) == sorted(
        ["workplace", "classroom", "pupil-device", "kiosk", "server", "other"]
    )


def test_schema_command_prints_the_json_schema():
    out = subprocess.run(
        [sys.executable, "-m", "agent", "schema"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == json_schema()


def _minimal(**extra):
    return {
        "schema_version": 1,
        "report_id": str(uuid.uuid4()),
        "collected_at": "2026-11-25T10:00:00Z",
        **extra,
    }


def test_a_minimal_report_is_valid_and_all_sections_default_to_unknown():
    report = convert(_minimal(), Report)
    assert report.schema_version == 1
    assert report.host is None and report.software is None


@pytest.mark.parametrize(
    "bad",
    [
        {"schema_version": 2},
        {"host": {"hostnmae": "typo"}},
        {"host": {"hostname": "x" * 257}},
        {"wlan": {"interfaces": [{"security": "wpa4"}]}},
        {"software": [{"name": "p"}] * 50_001},
    ],
)
def test_limits_and_unknown_fields_are_refused(bad):
    with pytest.raises(SchemaError):
        convert(_minimal(**bad), Report)


def test_a_report_must_say_its_schema_version():
    report = _minimal()
    del report["schema_version"]
    with pytest.raises(SchemaError, match="schema_version"):
        convert(report, Report)
