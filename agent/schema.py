"""The report: the wire contract between agent and collector (schema version 1).

Field names follow ../shared/design.md ("Report, schema version 1"); fields may be added,
never renamed. Every field may be ``None``, meaning *unknown*; ``collection.errors`` then
says why. msgspec only: the agent must not import SQLAlchemy, SQLModel or pydantic.

Why msgspec and not pydantic (which the rest of the collector uses): the agent runs all day
on every PC, and pydantic with these models kept about 17 MiB resident in it (the interpreter
itself is about 11 MiB); msgspec with them costs about 5 MiB. The collector validates every
report it receives with these very models, and msgspec decodes and validates a full report
about five times faster than pydantic did (``benchmarks/ingest.py``). The JSON both write
is the same, byte for byte, so section hashes did not change.

The limits on strings and lists are part of the contract: the collector validates incoming
reports with these models (:func:`decode_report`), so a hostile or broken report is refused,
not stored. Constructing a model in Python does *not* validate (msgspec checks types only
when decoding); :func:`validated_section` does, and the agent runs every probe's section
through it.
"""

# No `from __future__ import annotations` here: msgspec would have to evaluate every field's
# annotation from its text; the classes below only refer to classes defined above them.
import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, field

SCHEMA_VERSION: Literal[1] = 1

# Limits. Generous for real machines (a developer PC has ~4000 packages), tight enough that
# one report cannot exhaust the collector.
Name = Annotated[str, Meta(max_length=256)]
Text = Annotated[str, Meta(max_length=4096)]
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

Ratio = Annotated[float, Meta(ge=0, le=10)]
NonNegInt = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Port = Annotated[int, Meta(ge=0, le=65535)]

SchemaError = msgspec.ValidationError


class Model(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every report part: unknown fields are refused, so a typo cannot pass silently.
    (A model whose fields include a required one says ``kw_only=True`` itself: msgspec does
    not inherit that option.)"""


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
    tags: Annotated[list[Name], Meta(max_length=MAX_SMALL_LIST)] = field(default_factory=list)


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
    design_capacity_wh: Annotated[float, Meta(ge=0, le=10_000)] | None = None
    full_capacity_wh: Annotated[float, Meta(ge=0, le=10_000)] | None = None
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
    disks: Annotated[list[Disk], Meta(max_length=MAX_SMALL_LIST)] | None = None
    volumes: Annotated[list[Volume], Meta(max_length=MAX_SMALL_LIST)] | None = None
    battery: Battery | None = None
    tpm: Tpm | None = None
    uefi: bool | None = None


class Display(Model):
    connector: Name | None = None
    internal: bool | None = None
    vendor_pnp: Name | None = None
    model: Name | None = None
    serial: Name | None = None
    width_cm: Annotated[float, Meta(ge=0, le=10_000)] | None = None
    height_cm: Annotated[float, Meta(ge=0, le=10_000)] | None = None
    diagonal_in: Annotated[float, Meta(ge=0, le=10_000)] | None = None
    native_width_px: NonNegInt | None = None
    native_height_px: NonNegInt | None = None
    current_width_px: NonNegInt | None = None
    current_height_px: NonNegInt | None = None
    refresh_hz: Annotated[float, Meta(ge=0, le=10_000)] | None = None
    scale: Ratio | None = None
    year: Annotated[int, Meta(ge=1990, le=2255)] | None = None
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
    addresses: Annotated[list[Name], Meta(max_length=MAX_SMALL_LIST)] = field(default_factory=list)
    up: bool | None = None
    speed_mbps: NonNegInt | None = None
    kind: InterfaceKind | None = None


class ListeningSocket(Model):
    proto: Proto | None = None
    address: Name | None = None
    port: Port | None = None
    process: Name | None = None


class Network(Model):
    interfaces: Annotated[list[Interface], Meta(max_length=MAX_LIST)] | None = None
    default_gateway: Name | None = None
    dns_servers: Annotated[list[Name], Meta(max_length=MAX_SMALL_LIST)] | None = None
    listening: Annotated[list[ListeningSocket], Meta(max_length=MAX_LIST)] | None = None


class WlanInterface(Model):
    name: Name | None = None
    connected: bool | None = None
    ssid: Name | None = None
    bssid: Name | None = None
    security: WlanSecurity | None = None
    cipher: Name | None = None
    frequency_mhz: NonNegInt | None = None
    channel: NonNegInt | None = None
    signal_dbm: Annotated[int, Meta(ge=-150, le=50)] | None = None
    rate_mbps: Annotated[float, Meta(ge=0, le=100_000)] | None = None


class WlanProfile(Model):
    ssid: Name | None = None
    security: WlanSecurity | None = None
    autoconnect: bool | None = None


class WlanNetwork(Model):
    ssid: Name | None = None
    bssid: Name | None = None
    security: WlanSecurity | None = None
    signal_dbm: Annotated[int, Meta(ge=-150, le=50)] | None = None
    channel: NonNegInt | None = None


class Wlan(Model):
    interfaces: Annotated[list[WlanInterface], Meta(max_length=MAX_SMALL_LIST)] | None = None
    profiles: Annotated[list[WlanProfile], Meta(max_length=MAX_LIST)] | None = None
    visible: Annotated[list[WlanNetwork], Meta(max_length=MAX_LIST)] | None = None


class PendingUpdate(Model):
    name: Name | None = None
    installed: Name | None = None
    available: Name | None = None
    security: bool | None = None
    # Added (Windows Update): the update's KB articles and MSRC severity rating.
    kb_ids: Annotated[list[Name], Meta(max_length=MAX_SMALL_LIST)] | None = None
    severity: Name | None = None


class Patches(Model):
    manager: Name | None = None
    pending: Annotated[list[PendingUpdate], Meta(max_length=MAX_SOFTWARE)] | None = None
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
    installed_kbs: Annotated[list[Name], Meta(max_length=MAX_LIST)] | None = None


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
    disk_encryption: Annotated[list[DiskEncryption], Meta(max_length=MAX_SMALL_LIST)] | None = None
    secure_boot: bool | None = None
    screen_lock: ScreenLock | None = None
    antivirus: Annotated[list[Antivirus], Meta(max_length=MAX_SMALL_LIST)] | None = None
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


class CollectionError(Model, kw_only=True):
    probe: Name
    message: Text


class Collection(Model):
    started_at: dt.datetime | None = None
    duration_ms: NonNegInt | None = None
    errors: Annotated[list[CollectionError], Meta(max_length=MAX_LIST)] = field(
        default_factory=list
    )


class Delta(Model):
    """Added: marks a delta report. Its sections that are absent mean "unchanged since the
    report ``base_report_id``"; ``section_hashes`` are the hashes (agent.delta) of ALL
    sections of the full state the agent now has, so the collector can verify its base."""

    base_report_id: uuid.UUID | None = None
    section_hashes: Annotated[
        dict[Name, Annotated[str, Meta(max_length=128)]], Meta(max_length=64)
    ] = field(default_factory=dict)


class Report(Model, kw_only=True):
    # Required: a report must say which contract it follows.
    schema_version: Literal[1]
    report_id: uuid.UUID
    collected_at: dt.datetime
    agent: AgentInfo = field(default_factory=AgentInfo)
    host: Host | None = None
    os: OperatingSystem | None = None
    hardware: Hardware | None = None
    displays: Annotated[list[Display], Meta(max_length=MAX_SMALL_LIST)] | None = None
    inputs: Inputs | None = None
    network: Network | None = None
    wlan: Wlan | None = None
    patches: Patches | None = None
    security: Security | None = None
    software: Annotated[list[Software], Meta(max_length=MAX_SOFTWARE)] | None = None
    collection: Collection = field(default_factory=Collection)
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


T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_SECTION_TYPES: dict[str, Any] = {
    f.name: f.type for f in msgspec.structs.fields(Report) if f.name in SECTIONS
}
# Lax like the JSON reports have always been read: "5" and 5.0 are accepted for an integer.
_report_decoder = msgspec.json.Decoder(Report, strict=False)


def encode(obj: Any) -> bytes:
    """A model (or any JSON data holding models) as compact JSON."""
    return _encoder.encode(obj)


def to_data(obj: Any) -> Any:
    """A model as JSON data (dicts, lists, str, numbers): dates as ISO text, UUIDs as text."""
    return msgspec.to_builtins(obj)


def object_data(obj: msgspec.Struct) -> dict[str, Any]:
    """A model as a JSON object (see to_data)."""
    data: dict[str, Any] = msgspec.to_builtins(obj)
    return data


def decode_report(data: bytes | str) -> Report:
    """A report from its JSON, validated; raises :data:`SchemaError` (or
    ``msgspec.DecodeError`` for malformed JSON)."""
    return _report_decoder.decode(data)


def convert(data: Any, kind: type[T]) -> T:
    """JSON data (as :func:`to_data` gives it) to a model, validated; raises SchemaError."""
    return msgspec.convert(data, kind, strict=False)


def validated_section(section: str, value: Any) -> Any:
    """A section's value as a probe built it, checked against the contract (and any nested
    dicts made models); raises SchemaError. Building a model does not check it."""
    if value is None:
        return None
    return msgspec.json.decode(_encoder.encode(value), type=_SECTION_TYPES[section], strict=False)


def field_names(kind: type[msgspec.Struct]) -> tuple[str, ...]:
    return kind.__struct_fields__


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a report, as ``inventar-agent schema`` prints it."""
    # The report at the top, its parts under $defs (as JSON Schema tools expect to find it).
    _, defs = msgspec.json.schema_components([Report], ref_template="#/$defs/{name}")
    schema: dict[str, Any] = {**defs.pop("Report"), "$defs": defs}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://inventar.invalid/schema/report-v{SCHEMA_VERSION}.json"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True)
