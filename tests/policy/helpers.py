"""Hand-made reports for the policy tests, validated against agent.schema.Report."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

from agent.schema import Report, convert, object_data
from collector.policy import PolicySet, Result, Waiver, derive, evaluate

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
NOW = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)
GIB = 1024**3

DELETE = object()  # marks a key to remove in `make`


def base_report() -> dict[str, Any]:
    """A Debian 12 desktop workplace that passes every check that applies to it."""
    return {
        "schema_version": 1,
        "report_id": "0b6e2f0e-6d9c-4e4e-9c55-1d3f7a3c2b10",
        "collected_at": "2025-06-02T11:00:00Z",
        "agent": {"id": "agent-1", "version": "0.1.0"},
        "host": {
            "machine_id": "4f1c0e2a9b7d4e21a3b5c6d7e8f90123",
            "hostname": "rathaus-pc-017",
            "fqdn": "rathaus-pc-017.verwaltung.example",
            "chassis": "desktop",
            "bios_date": "2022-03-01",
            "site": "rathaus",
            "role": "workplace",
            "tags": [],
        },
        "os": {
            "family": "linux",
            "name": "Debian GNU/Linux",
            "version": "12",
            "build": "12.10",
            "kernel": "6.1.0-33-amd64",
            "arch": "x86_64",
        },
        "hardware": {
            "cpu_model": "Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz",
            "cpu_cores": 6,
            "cpu_threads": 12,
            "memory_bytes": 16 * GIB - 300 * 1024**2,
            "disks": [{"name": "nvme0n1", "size_bytes": 512_110_190_592, "rotational": False}],
            "volumes": [
                {
                    "mount": "/",
                    "size_bytes": 500_000_000_000,
                    "free_bytes": 10**11,
                    "system": True,
                    "fstype": "ext4",
                },
            ],
            "battery": None,
            "tpm": {"present": True, "version": "2.0"},
            "uefi": True,
        },
        "displays": [
            {
                "connector": "card0-DP-1",
                "internal": False,
                "vendor_pnp": "DEL",
                "model": "DELL P2422H",
                "width_cm": 53.0,
                "height_cm": 30.0,
                "diagonal_in": 24.0,
                "native_width_px": 1920,
                "native_height_px": 1080,
                "current_width_px": 1920,
                "current_height_px": 1080,
                "refresh_hz": 60.0,
                "scale": 1.25,
                "year": 2021,
            }
        ],
        "inputs": {"external_keyboard": True, "external_pointing": True},
        "network": {
            "interfaces": [{"name": "eno1", "kind": "ethernet", "up": True, "addresses": []}],
            "default_gateway": "10.0.0.1",
            "dns_servers": ["10.0.0.1"],
            "listening": [
                {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
                {"proto": "udp", "address": "0.0.0.0", "port": 5353, "process": "avahi-daemon"},
            ],
        },
        "wlan": {"interfaces": [], "profiles": [], "visible": []},
        "patches": {
            "manager": "apt",
            "pending": [],
            "pending_count": 0,
            "pending_security_count": 0,
            "auto_updates": True,
            "reboot_required": False,
        },
        "security": {
            "firewall": True,
            "disk_encryption": [{"mount": "/", "encrypted": False, "method": None}],
            "secure_boot": True,
            "screen_lock": {"enabled": True, "timeout_s": 600, "password": True},
            "antivirus": [],
            "ssh": {
                "permit_root_login": "prohibit-password",
                "permit_empty_passwords": False,
                "password_authentication": True,
            },
            "smb1": False,
            "rdp": None,
            "mac_enforcing": True,
            "mac_system": "apparmor",
        },
        "software": [{"name": "bash", "version": "5.2.15-2+b7", "publisher": "Debian"}],
        "collection": {"errors": []},
    }


def windows10_laptop() -> dict[str, Any]:
    """A Windows 10 22H2 Enterprise notebook workplace in a dock."""
    return make(
        {
            "host.chassis": "laptop",
            "os": {
                "family": "windows",
                "name": "Windows 10 Enterprise",
                "version": "22H2",
                "build": "19045.5854",
                "edition": "Enterprise",
            },
            "hardware.battery": {
                "design_capacity_wh": 50.0,
                "full_capacity_wh": 41.0,
                "health": 0.82,
                "cycle_count": 210,
            },
            "hardware.volumes": [
                {"mount": "C:\\", "size_bytes": 255_000_000_000, "system": True, "fstype": "ntfs"}
            ],
            "security.disk_encryption": [
                {"mount": "C:\\", "encrypted": True, "method": "BitLocker"}
            ],
            "security.ssh": None,
            "security.antivirus": [
                {
                    "name": "Microsoft Defender Antivirus",
                    "realtime": True,
                    "signatures_updated": "2025-06-01T08:00:00Z",
                }
            ],
            "displays": [
                {
                    "connector": "eDP-1",
                    "internal": True,
                    "width_cm": 31.0,
                    "height_cm": 17.4,
                    "diagonal_in": 14.0,
                    "native_width_px": 1920,
                    "native_height_px": 1080,
                    "current_width_px": 1920,
                    "current_height_px": 1080,
                    "refresh_hz": 60.0,
                    "scale": 1.5,
                },
                {
                    "connector": "DP-2",
                    "internal": False,
                    "width_cm": 53.0,
                    "height_cm": 30.0,
                    "diagonal_in": 24.0,
                    "native_width_px": 1920,
                    "native_height_px": 1080,
                    "current_width_px": 1920,
                    "current_height_px": 1080,
                    "refresh_hz": 60.0,
                    "scale": 1.25,
                },
            ],
        },
        base_report(),
    )


def make(overrides: dict[str, Any], report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy ``report`` (default: base_report()) with dotted-path overrides applied, then
    validate it with agent.schema.Report and return its JSON form."""
    data = copy.deepcopy(report if report is not None else base_report())
    for path, value in overrides.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return object_data(convert(data, Report))


def run(
    policies: PolicySet,
    report: dict[str, Any],
    check: str,
    *,
    now: dt.datetime = NOW,
    waivers: tuple[Waiver, ...] = (),
    **derive_kwargs: Any,
) -> Result:
    facts = derive(report, policies.reference, now, **derive_kwargs)
    results = evaluate(policies, report, facts, waivers)
    return next(r for r in results if r.check == check)
