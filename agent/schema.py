"""The report: the wire contract between agent and collector (schema version 1).

Field names follow ../shared/design.md ("Report, schema version 1"); fields may be added,
never renamed. Every field may be ``None``, meaning *unknown*; ``collection.errors`` then
says why. Plain pydantic only: the agent must not import SQLAlchemy or SQLModel.

The limits on strings and lists are part of the contract: the collector validates incoming
reports with these very models, so a hostile or broken report is refused, not stored.
"""

# No `from __future__ import annotations` here: pydantic would have to evaluate every field's
# annotation from its text (about 180 eval() calls) each time the models are built, which
# every agent run and the collector's start do; the classes below only refer to classes
# defined above them.
import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION = 1

# Limits. Generous for real machines (a developer PC has ~4000 packages), tight enough that
# one report cannot exhaust the collector.
Name = Annotated[str, StringConstraints(max_length=256)]
Text = Annotated[str, StringConstraints(max_length=4096)]
MAX_SOFTWARE = 50_000
MAX_LIST = 4_096
MAX_SMALL_LIST = 256

Chassis = Literal["desktop", "laptop", "tablet", "server", "vm", "other"]
Role = Literal["workplace", "classroom", "pupil-device", "kiosk", "server", "other"]
OsFamily = Literal["linux", "windows", "darwin"]
InterfaceKind = Literal["ethernet", "wlan", "loopback", "virtual", "other"]
WlanSecurity = Literal[
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
Proto = Literal["tcp", "tcp6", "udp", "udp6"]

Ratio = Annotated[float, Field(ge=0, le=10)]
NonNegInt = Annotated[int, Field(ge=0, le=2**63 - 1)]
Port = Annotated[int, Field(ge=0, le=65535)]


class Model(BaseModel):
    """Base of every report part: unknown fields are refused, so a typo cannot pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class AgentInfo(Model):
    id: Name | None = None
    version: Name | None = None


class Host(Model):
    machine_id: Name | None = None
    hostname: Name | None = None
    fqdn: Name | None = None
    serial: Name | None = None
    manufacturer: Name | None = None
    model: Name | None = None
    chassis: Chassis | None = None
    bios_date: dt.date | None = None
    # Added to the contract: the BIOS/UEFI firmware vendor and version, for patch checks.
    bios_vendor: Name | None = None
    bios_version: Name | None = None
    site: Name | None = None
    role: Role | None = None
    tags: Annotated[list[Name], Field(max_length=MAX_SMALL_LIST)] = Field(default_factory=list)


class OperatingSystem(Model):
    family: OsFamily | None = None
    name: Name | None = None
    version: Name | None = None
    build: Name | None = None
    edition: Name | None = None
    kernel: Name | None = None
    arch: Name | None = None
    boot_time: dt.datetime | None = None
    install_date: dt.datetime | None = None
    # Added: Windows' feature update name (DisplayVersion: 22H2, 23H2).
    display_version: Name | None = None
    # Added: the Debian/Ubuntu release's codename (os-release VERSION_CODENAME: bookworm,
    # jammy): what the distributions' security trackers name a release by.
    codename: Name | None = None
    # Added: Ubuntu Pro (ESM) enabled, from the Pro client's status file; None elsewhere
    # and where that file is unreadable.
    ubuntu_pro: bool | None = None


class Disk(Model):
    name: Name | None = None
    model: Name | None = None
    size_bytes: NonNegInt | None = None
    rotational: bool | None = None


class Volume(Model):
    mount: Name | None = None
    size_bytes: NonNegInt | None = None
    free_bytes: NonNegInt | None = None
    system: bool | None = None
    # Added: file system type (ext4, ntfs, apfs); tells e.g. network mounts apart.
    fstype: Name | None = None


class Battery(Model):
    design_capacity_wh: Annotated[float, Field(ge=0, le=10_000)] | None = None
    full_capacity_wh: Annotated[float, Field(ge=0, le=10_000)] | None = None
    health: Ratio | None = None
    cycle_count: NonNegInt | None = None


class Tpm(Model):
    present: bool | None = None
    version: Name | None = None


class Hardware(Model):
    cpu_model: Name | None = None
    cpu_cores: NonNegInt | None = None
    cpu_threads: NonNegInt | None = None
    memory_bytes: NonNegInt | None = None
    disks: Annotated[list[Disk], Field(max_length=MAX_SMALL_LIST)] | None = None
    volumes: Annotated[list[Volume], Field(max_length=MAX_SMALL_LIST)] | None = None
    battery: Battery | None = None
    tpm: Tpm | None = None
    uefi: bool | None = None


class Display(Model):
    connector: Name | None = None
    internal: bool | None = None
    vendor_pnp: Name | None = None
    model: Name | None = None
    serial: Name | None = None
    width_cm: Annotated[float, Field(ge=0, le=10_000)] | None = None
    height_cm: Annotated[float, Field(ge=0, le=10_000)] | None = None
    diagonal_in: Annotated[float, Field(ge=0, le=10_000)] | None = None
    native_width_px: NonNegInt | None = None
    native_height_px: NonNegInt | None = None
    current_width_px: NonNegInt | None = None
    current_height_px: NonNegInt | None = None
    refresh_hz: Annotated[float, Field(ge=0, le=10_000)] | None = None
    scale: Ratio | None = None
    year: Annotated[int, Field(ge=1990, le=2255)] | None = None
    # Added: EDID product code and whether ``year`` is a model year rather than the year
    # of manufacture; analog (VGA) inputs are an ergonomics and lifecycle hint.
    product_code: NonNegInt | None = None
    year_is_model_year: bool | None = None
    analog: bool | None = None


class Inputs(Model):
    external_keyboard: bool | None = None
    external_pointing: bool | None = None


class Interface(Model):
    name: Name | None = None
    mac: Name | None = None
    addresses: Annotated[list[Name], Field(max_length=MAX_SMALL_LIST)] = Field(default_factory=list)
    up: bool | None = None
    speed_mbps: NonNegInt | None = None
    kind: InterfaceKind | None = None


class ListeningSocket(Model):
    proto: Proto | None = None
    address: Name | None = None
    port: Port | None = None
    process: Name | None = None


class Network(Model):
    interfaces: Annotated[list[Interface], Field(max_length=MAX_LIST)] | None = None
    default_gateway: Name | None = None
    dns_servers: Annotated[list[Name], Field(max_length=MAX_SMALL_LIST)] | None = None
    listening: Annotated[list[ListeningSocket], Field(max_length=MAX_LIST)] | None = None


class WlanInterface(Model):
    name: Name | None = None
    connected: bool | None = None
    ssid: Name | None = None
    bssid: Name | None = None
    security: WlanSecurity | None = None
    cipher: Name | None = None
    frequency_mhz: NonNegInt | None = None
    channel: NonNegInt | None = None
    signal_dbm: Annotated[int, Field(ge=-150, le=50)] | None = None
    rate_mbps: Annotated[float, Field(ge=0, le=100_000)] | None = None


class WlanProfile(Model):
    ssid: Name | None = None
    security: WlanSecurity | None = None
    autoconnect: bool | None = None


class WlanNetwork(Model):
    ssid: Name | None = None
    bssid: Name | None = None
    security: WlanSecurity | None = None
    signal_dbm: Annotated[int, Field(ge=-150, le=50)] | None = None
    channel: NonNegInt | None = None


class Wlan(Model):
    interfaces: Annotated[list[WlanInterface], Field(max_length=MAX_SMALL_LIST)] | None = None
    profiles: Annotated[list[WlanProfile], Field(max_length=MAX_LIST)] | None = None
    visible: Annotated[list[WlanNetwork], Field(max_length=MAX_LIST)] | None = None


class PendingUpdate(Model):
    name: Name | None = None
    installed: Name | None = None
    available: Name | None = None
    security: bool | None = None
    # Added (Windows Update): the update's KB articles and MSRC severity rating.
    kb_ids: Annotated[list[Name], Field(max_length=MAX_SMALL_LIST)] | None = None
    severity: Name | None = None


class Patches(Model):
    manager: Name | None = None
    pending: Annotated[list[PendingUpdate], Field(max_length=MAX_SOFTWARE)] | None = None
    pending_count: NonNegInt | None = None
    pending_security_count: NonNegInt | None = None
    last_refresh: dt.datetime | None = None
    last_install: dt.datetime | None = None
    auto_updates: bool | None = None
    reboot_required: bool | None = None
    # Added: who decides what gets installed: automatic (the OS on its own), wsus, intune
    # (an MDM update policy) or manual (updates wait for a person).
    update_policy: Literal["automatic", "wsus", "intune", "manual"] | None = None
    # Added (Windows): the installed updates' KB articles (systeminfo's hotfix list), for
    # matching against the fixing updates where the build alone does not tell.
    installed_kbs: Annotated[list[Name], Field(max_length=MAX_LIST)] | None = None


class DiskEncryption(Model):
    mount: Name | None = None
    encrypted: bool | None = None
    method: Name | None = None


class ScreenLock(Model):
    enabled: bool | None = None
    timeout_s: NonNegInt | None = None
    password: bool | None = None


class Antivirus(Model):
    name: Name | None = None
    realtime: bool | None = None
    signatures_updated: dt.datetime | None = None


class SshServer(Model):
    permit_root_login: Name | None = None
    permit_empty_passwords: bool | None = None
    password_authentication: bool | None = None


class Rdp(Model):
    enabled: bool | None = None
    nla: bool | None = None


class Security(Model):
    firewall: bool | None = None
    disk_encryption: Annotated[list[DiskEncryption], Field(max_length=MAX_SMALL_LIST)] | None = None
    secure_boot: bool | None = None
    screen_lock: ScreenLock | None = None
    antivirus: Annotated[list[Antivirus], Field(max_length=MAX_SMALL_LIST)] | None = None
    ssh: SshServer | None = None
    smb1: bool | None = None
    rdp: Rdp | None = None
    mac_enforcing: bool | None = None
    # Added: which firewall and which mandatory access control system were found.
    firewall_backend: Name | None = None
    mac_system: Name | None = None


class Software(Model):
    name: Name | None = None
    version: Name | None = None
    publisher: Name | None = None
    # Added: the day it was installed where the package manager records it (Windows'
    # Uninstall keys: InstallDate).
    install_date: dt.date | None = None
    # Added: a Debian package's source package and its version (binNMUs and renamed
    # binaries differ from it): what the security trackers name a fix by.
    source: Name | None = None
    source_version: Name | None = None


class CollectionError(Model):
    probe: Name
    message: Text


class Collection(Model):
    started_at: dt.datetime | None = None
    duration_ms: NonNegInt | None = None
    errors: Annotated[list[CollectionError], Field(max_length=MAX_LIST)] = Field(
        default_factory=list
    )


class Delta(Model):
    """Added: marks a delta report. Its sections that are absent mean "unchanged since the
    report ``base_report_id``"; ``section_hashes`` are the hashes (agent.delta) of ALL
    sections of the full state the agent now has, so the collector can verify its base."""

    base_report_id: uuid.UUID | None = None
    section_hashes: Annotated[
        dict[Name, Annotated[str, StringConstraints(max_length=128)]], Field(max_length=64)
    ] = Field(default_factory=dict)


class Report(Model):
    schema_version: Literal[1] = 1
    report_id: uuid.UUID
    collected_at: dt.datetime
    agent: AgentInfo = Field(default_factory=AgentInfo)
    host: Host | None = None
    os: OperatingSystem | None = None
    hardware: Hardware | None = None
    displays: Annotated[list[Display], Field(max_length=MAX_SMALL_LIST)] | None = None
    inputs: Inputs | None = None
    network: Network | None = None
    wlan: Wlan | None = None
    patches: Patches | None = None
    security: Security | None = None
    software: Annotated[list[Software], Field(max_length=MAX_SOFTWARE)] | None = None
    collection: Collection = Field(default_factory=Collection)
    # Added: present only on a delta report (see Delta); absent/null = a full report.
    delta: Delta | None = None


# The report's sections in the order the agent collects and prints them.
SECTIONS: tuple[str, ...] = (
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
)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a report, as ``inventar-agent schema`` prints it."""
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://inventar.invalid/schema/report-v{SCHEMA_VERSION}.json"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True)
