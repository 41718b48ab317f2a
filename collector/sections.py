"""One declaration per report section: what storing it means (as Fleet's server declares
each detail query's storage).

For every section of the wire contract (agent.schema.SECTIONS) the declaration says which
``hosts`` columns mirror its fields, which table holds its rows and how a row is made, and
which derived facts (collector.policy.facts) come from it. Ingest (collector.ingest), delta merging
(collector.delta), the current state (collector.current_state) and the readers go through it.

Pure and free of SQLAlchemy: it also runs in the decode worker processes. Tables are named
by their table name; collector.models defines them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.schema import SECTIONS

RowBuilder = Callable[[Any], list[dict[str, Any]]]
# A field inside a section's JSON: keys from the section down, "*" = every item of a list.
FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class ListKey:
    """How the change log (collector.changes) tells the items of a list apart: by the
    ``fields`` that name an item (a package by its name); ``shown`` is the field it shows of
    an item added or removed (a package's version), None = the item's other fields."""

    fields: tuple[str, ...]
    shown: str | None = None


@dataclass(frozen=True)
class Section:
    name: str
    # report field -> hosts column, for fields that lists filter and sort by
    host_columns: Mapping[str, str] = field(default_factory=dict)
    # the table of the section's rows (one row per display, interface, ...) and how the
    # section's JSON data becomes rows (without host_id; derived columns are ingest's)
    table: str | None = None
    rows: RowBuilder | None = None
    # where in the section's data the list is whose items become the rows
    items: FieldPath = ()
    # derived facts that depend on this section (collector.policy.facts): recomputed when it changes
    facts: tuple[str, ...] = ()
    # Volatile fields: they change from one status report to the next (signal, free space,
    # boot time) and belong to the current state and the metrics, not to years of history:
    # a change of only these writes no history (collector.history).
    volatile: tuple[FieldPath, ...] = ()
    # The lists of the section whose items the change log names (path -> key); other lists
    # are compared item by item as a whole.
    keys: Mapping[FieldPath, ListKey] = field(default_factory=dict)


def _pick(keys: tuple[str, ...], items: Any, rename: Mapping[str, str] | None = None) -> Any:
    rename = rename or {}
    return [
        {rename.get(k, k): item.get(k) for k in keys}
        for item in items or []
        if isinstance(item, dict)
    ]


def _display_rows(data: Any) -> list[dict[str, Any]]:
    keys = ("connector", "internal", "vendor_pnp", "model", "serial", "diagonal_in",
            "native_width_px", "native_height_px", "year")  # fmt: skip
    rows: list[dict[str, Any]] = _pick(keys, data)
    return rows


def _interface_rows(data: Any) -> list[dict[str, Any]]:
    interfaces = (data or {}).get("interfaces") or []
    rows: list[dict[str, Any]] = _pick(("name", "mac", "kind", "up", "speed_mbps", "addresses"),
                                       interfaces)  # fmt: skip
    for row in rows:
        row["addresses"] = row["addresses"] or []
    return rows


def _wlan_rows(data: Any) -> list[dict[str, Any]]:
    interfaces = (data or {}).get("interfaces") or []
    keys = ("name", "connected", "ssid", "bssid", "security", "cipher", "frequency_mhz",
            "signal_dbm")  # fmt: skip
    rows: list[dict[str, Any]] = _pick(keys, interfaces, {"name": "interface"})
    return rows


def _patch_rows(data: Any) -> list[dict[str, Any]]:
    pending = (data or {}).get("pending") or []
    rows: list[dict[str, Any]] = _pick(("name", "installed", "available", "security"), pending)
    return rows


def _software_rows(data: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _pick(
        ("name", "version", "publisher", "source", "source_version"), data
    )
    return rows


DECLARATIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section(
            "host",
            host_columns={
                "hostname": "hostname",
                "fqdn": "fqdn",
                "serial": "serial",
                "manufacturer": "manufacturer",
                "model": "model",
                "chassis": "chassis",
                "role": "role",
            },
            facts=("bios_date", "device_category", "start_date", "start_source"),
        ),
        Section(
            "os",
            host_columns={
                "family": "os_family",
                "name": "os_name",
                "version": "os_version",
                "build": "os_build",
                "kernel": "kernel",
                "arch": "arch",
                "codename": "os_codename",
                "ubuntu_pro": "ubuntu_pro",
            },
            # A reboot is no change of the host (uptime is what the metrics show).
            volatile=(("boot_time",),),
            facts=(
                "os_edition_group",
                "os_support_end",
                "os_support_release",
                "os_support_source",
                "os_support_estimated",
                "os_support_status",
                "os_support_line",
            ),
        ),
        Section(
            "hardware",
            host_columns={"cpu_model": "cpu_model", "memory_bytes": "memory_bytes"},
            # Free space, and a battery's charge-to-charge capacity and cycles: the battery's
            # wear is the current state's (and the lifecycle's) matter.
            volatile=(
                ("volumes", "*", "free_bytes"),
                ("battery", "full_capacity_wh"),
                ("battery", "health"),
                ("battery", "cycle_count"),
            ),
            keys={("disks",): ListKey(("name",), "model"), ("volumes",): ListKey(("mount",))},
        ),
        # External monitor and start of life per display: collector.policy.facts.
        Section(
            "displays",
            table="displays",
            rows=_display_rows,
            facts=("external", "start_date", "start_source"),
            # The mode a user picked (resolution, refresh, scaling) is no other monitor.
            volatile=(
                ("*", "current_width_px"),
                ("*", "current_height_px"),
                ("*", "refresh_hz"),
                ("*", "scale"),
            ),
            keys={(): ListKey(("vendor_pnp", "model", "serial"))},
        ),
        Section("inputs"),
        Section(
            "network",
            table="interfaces",
            rows=_interface_rows,
            items=("interfaces",),
            # What DHCP and the link give a laptop differs at every site and every hour.
            volatile=(
                ("interfaces", "*", "addresses"),
                ("interfaces", "*", "up"),
                ("interfaces", "*", "speed_mbps"),
                ("default_gateway",),
                ("dns_servers",),
            ),
            keys={("interfaces",): ListKey(("name",), "mac")},
        ),
        Section(
            "wlan",
            table="wlan",
            rows=_wlan_rows,
            items=("interfaces",),
            # Signal, rate and the access point a laptop roams to; the networks in range.
            volatile=(
                ("interfaces", "*", "bssid"),
                ("interfaces", "*", "frequency_mhz"),
                ("interfaces", "*", "channel"),
                ("interfaces", "*", "signal_dbm"),
                ("interfaces", "*", "rate_mbps"),
                ("visible",),
            ),
            keys={
                ("interfaces",): ListKey(("name",), "ssid"),
                ("profiles",): ListKey(("ssid",), "security"),
            },
        ),
        Section(
            "patches",
            table="pending_patches",
            rows=_patch_rows,
            items=("pending",),
            facts=("reboot_required",),
            # When the package lists were last refreshed (several times a day).
            volatile=(("last_refresh",),),
            keys={("pending",): ListKey(("name",), "available")},
        ),
        Section(
            "security",
            # Antivirus signatures are updated several times a day.
            volatile=(("antivirus", "*", "signatures_updated"),),
            keys={
                ("disk_encryption",): ListKey(("mount",), "encrypted"),
                ("antivirus",): ListKey(("name",), "realtime"),
            },
        ),
        Section(
            "software",
            table="software",
            rows=_software_rows,
            keys={(): ListKey(("name",), "version")},
        ),
    )
}
assert tuple(DECLARATIONS) == SECTIONS, "one declaration per section of the wire contract"

# Sections with tables of their own: storing one needs its data, not only its hash.
NORMALIZED = tuple(name for name, s in DECLARATIONS.items() if s.table is not None)
# The report's collection errors are part of the current state too (the host view shows
# them); the collection's timings are not (they change with every report).
COLLECTION = "collection"
STATE_SECTIONS = (*SECTIONS, COLLECTION)
HOST_COLUMNS = tuple(c for s in DECLARATIONS.values() for c in s.host_columns.values())


def host_columns(sections: Mapping[str, Any]) -> dict[str, Any]:
    """The ``hosts`` columns that mirror report fields, from sections as JSON data (dicts)
    or as the schema's models."""
    out: dict[str, Any] = {}
    for name, declaration in DECLARATIONS.items():
        part = sections.get(name)
        for key, column in declaration.host_columns.items():
            if part is None:
                out[column] = None
            elif isinstance(part, dict):
                out[column] = part.get(key)
            else:
                out[column] = getattr(part, key, None)
    return out


def rows(section: str, data: Any) -> list[dict[str, Any]]:
    """A normalized section's rows (without host_id) from its JSON data."""
    builder = DECLARATIONS[section].rows
    if builder is None:
        raise KeyError(f"section {section} has no table")
    return builder(data)


def row_items(section: str, data: Any) -> list[Any]:
    """The items of a normalized section's data that become its rows."""
    for key in DECLARATIONS[section].items:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, list) else []


def rows_of_items(section: str, items: list[Any]) -> list[dict[str, Any]]:
    """The rows of some of a normalized section's items (see row_items)."""
    data: Any = items
    for key in reversed(DECLARATIONS[section].items):
        data = {key: data}
    return rows(section, data)


def collection_state(collection: Any) -> dict[str, Any]:
    """What the current state keeps of a report's ``collection``: its errors."""
    errors = collection.get("errors") if isinstance(collection, dict) else None
    return {"errors": errors or []}


def stable(section: str, data: Any) -> Any:
    """A section's JSON data without its volatile fields (a copy; ``data`` stays as it is)."""
    paths = DECLARATIONS[section].volatile
    return _without(data, paths) if paths else data


def _without(data: Any, paths: tuple[FieldPath, ...]) -> Any:
    here = {p[0] for p in paths if len(p) == 1}
    deeper: dict[str, list[FieldPath]] = {}
    for path in paths:
        if len(path) > 1:
            deeper.setdefault(path[0], []).append(path[1:])
    if isinstance(data, list):
        if "*" not in deeper:
            return data
        inner = tuple(deeper["*"])
        return [_without(item, inner) for item in data]
    if not isinstance(data, dict):
        return data
    return {
        key: _without(value, tuple(deeper[key])) if key in deeper else value
        for key, value in data.items()
        if key not in here
    }


# Sections whose stable content is their whole content (no volatile fields).
ALL_STABLE = frozenset(name for name, s in DECLARATIONS.items() if not s.volatile)
