"""What a host's report means beyond its own fields, decided once: the derived facts.

Pure functions of report sections (JSON data), the reference data beside the policy packs
(policies/data: OS support, lifecycle) and the asset register's purchase dates. Ingest
stores their results with the host (hosts columns, display rows; collector.current_state),
and every reader — metrics, the budget, the host view, the findings' `derived` facts — uses
what is stored. Nothing else decides what a chassis, a BIOS date or a monitor means.

The rules:

* **Device category** (lifecycle): ``host.chassis`` through the lifecycle's chassis map
  (desktop, laptop, tablet); a VM, server or unknown chassis has none.
* **Start of a device's life**: its purchase date from the asset register (by serial), else
  its BIOS date; for a monitor its own purchase date (by its EDID serial), else the year of
  manufacture in its EDID (1 January of it).
* **External monitor**: a display not known to be the device's own panel: ``internal`` is
  false, or unknown on a desktop (desktops have no panel of their own). Never on a VM (its
  displays are virtual); unknown on a notebook or tablet whose panel flag is unknown.
* **OS support**: the release of ``policies/data/os_support.yaml`` that the `os` section
  names (Windows by build and edition group), with its end of support.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields
from typing import Any

from collector.policy.reference import Lifecycle, NamedRelease, ReferenceData, WindowsRelease

EDID_YEARS = range(1990, 2256)


@dataclass(frozen=True)
class HostFacts:
    """The derived facts stored as columns of ``hosts`` (names are the column names)."""

    bios_date: dt.date | None = None
    device_category: str | None = None
    os_edition_group: str | None = None
    os_support_end: dt.date | None = None
    os_support_release: str | None = None
    os_support_source: str | None = None
    os_support_estimated: bool | None = None
    reboot_required: bool | None = None

    def columns(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


HOST_FACT_COLUMNS = tuple(f.name for f in fields(HostFacts))
# The section each host fact comes from. Every fact depends on one section only, so the facts
# of the sections a report carries are computed from that report alone (in the decode
# workers), and a report that changes none of them keeps the stored facts.
FACTS_OF_SECTION: dict[str, tuple[str, ...]] = {
    "host": ("bios_date", "device_category"),
    "os": ("os_edition_group", "os_support_end", "os_support_release", "os_support_source",
           "os_support_estimated"),
    "patches": ("reboot_required",),
}  # fmt: skip
HOST_FACT_SECTIONS = frozenset(FACTS_OF_SECTION)
# Facts that are dates (the decode workers send them as ISO text).
DATE_FACTS = frozenset({"bios_date", "os_support_end"})
assert sorted(c for cs in FACTS_OF_SECTION.values() for c in cs) == sorted(HOST_FACT_COLUMNS)


def section_facts(section: str, data: Any, reference: ReferenceData | None) -> dict[str, Any]:
    """The host facts that come from one section's JSON data (FACTS_OF_SECTION); those that
    need reference data are None without it (unknown, not guessed)."""
    part = _dict(data)
    if section == "host":
        return {
            "bios_date": parse_date(part.get("bios_date")),
            "device_category": device_category(part.get("chassis"), reference.lifecycle)
            if reference is not None
            else None,
        }
    if section == "os":
        release = os_release(part, reference) if reference is not None else None
        windows = reference is not None and part.get("family") == "windows"
        return {
            "os_edition_group": edition_group(part.get("edition"), part.get("name"), reference)
            if windows and reference is not None
            else None,
            "os_support_end": release.end if release else None,
            "os_support_release": release_label(release) if release else None,
            "os_support_source": release.source if release else None,
            "os_support_estimated": release.estimated if release else None,
        }
    if section == "patches":
        reboot = part.get("reboot_required")
        return {"reboot_required": reboot if isinstance(reboot, bool) else None}
    raise KeyError(f"no host facts come from section {section}")


def host_facts(sections: dict[str, Any], reference: ReferenceData | None) -> HostFacts:
    """The host's derived facts from its current sections (``host``, ``os``, ``patches``)."""
    values: dict[str, Any] = {}
    for section in FACTS_OF_SECTION:
        values.update(section_facts(section, sections.get(section), reference))
    return HostFacts(**values)


def device_category(chassis: Any, lifecycle: Lifecycle) -> str | None:
    return lifecycle.chassis.get(chassis) if isinstance(chassis, str) and chassis else None


def host_start(
    purchase: dt.date | None, bios_date: dt.date | None
) -> tuple[dt.date | None, str | None]:
    """When a host's life began, and from what: ``purchase`` or ``bios`` (or unknown)."""
    if purchase is not None:
        return purchase, "purchase"
    if bios_date is not None:
        return bios_date, "bios"
    return None, None


def monitor_start(purchase: dt.date | None, year: Any) -> tuple[dt.date | None, str | None]:
    """When a monitor's life began: its own ``purchase`` date, else its ``edid`` year."""
    if purchase is not None:
        return purchase, "purchase"
    if isinstance(year, int) and not isinstance(year, bool) and year in EDID_YEARS:
        return dt.date(year, 1, 1), "edid"
    return None, None


def external_monitor(internal: Any, chassis: Any, category: str | None) -> bool | None:
    """Whether a display is an external monitor of its host (the rule in the module doc)."""
    if chassis == "vm" or internal is True:
        return False
    if internal is False:
        return True
    return True if category == "desktop" else None


def monitor_identity(vendor_pnp: Any, model: Any, serial: Any) -> tuple[str, str] | None:
    """What makes a monitor one device wherever it is seen (a shared desk's monitor seen by
    two notebooks): make and model with its EDID serial; None without a serial."""
    if not isinstance(serial, str) or not serial:
        return None
    make = " ".join(str(p) for p in (vendor_pnp, model) if p)
    return make, serial


def due_year(start: dt.date | None, category: str | None, lifecycle: Lifecycle) -> int | None:
    """The calendar year a device's replacement is due (past: overdue), or None."""
    if start is None or category is None or category not in lifecycle.categories:
        return None
    return start.year + lifecycle.categories[category].replacement_years


# --- operating system support -------------------------------------------------------------


def os_release(os_info: Any, reference: ReferenceData) -> WindowsRelease | NamedRelease | None:
    """The reference entry for a report's `os` section, or None."""
    if not isinstance(os_info, dict):
        return None
    family = os_info.get("family")
    support = reference.os_support
    if family == "windows":
        build = major_build(os_info.get("build")) or major_build(os_info.get("version"))
        group = edition_group(os_info.get("edition"), os_info.get("name"), reference)
        if build is None or group is None:
            return None
        for entry in support.windows:
            if entry.build == build and entry.group == group:
                return entry
        return None
    entries = support.linux if family == "linux" else support.darwin if family == "darwin" else []
    name = str(os_info.get("name") or "").lower()
    version = str(os_info.get("version") or "")
    if not name or not version:
        return None
    major = version.split(".", 1)[0]
    for named in entries:
        if not any(n in name for n in named.names):
            continue
        if named.version == (major if named.match == "major" else version):
            return named
    return None


def release_label(entry: WindowsRelease | NamedRelease) -> str:
    if isinstance(entry, WindowsRelease):
        return f"{entry.product} {entry.release} ({entry.group})"
    return entry.label


def major_build(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    # "19045", "19045.5011", "10.0.19045", "10.0.19045.5011"
    parts = text.split(".")
    if len(parts) >= 3 and parts[0] == "10" and parts[1] == "0":
        parts = parts[2:]
    return int(parts[0]) if parts and parts[0].isdigit() and len(parts[0]) >= 4 else None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def edition_group(edition: Any, name: Any, reference: ReferenceData) -> str | None:
    """The os_support edition group of a Windows edition ("Professional" -> "pro")."""
    candidates: list[str] = []
    if isinstance(edition, str) and edition:
        candidates.append(_norm(edition))
    if isinstance(name, str) and name:
        # "Microsoft Windows 10 Enterprise LTSC" -> "enterpriseltsc"
        candidates.append(_norm(re.sub(r"(?i)^(microsoft\s+)?windows\s+1[01]\s*", "", name)))
    groups = reference.os_support.windows_edition_groups
    for candidate in candidates:
        stripped = re.sub(r"(n|kn)$", "", candidate)  # "ProfessionalN", "EnterpriseN"
        for group, editions in groups.items():
            if candidate in editions or stripped in editions:
                return group
    return None


# --- helpers --------------------------------------------------------------------------------


def parse_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
