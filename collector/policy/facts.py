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
  names (Windows by build and edition group), with its end of support; and where the
  release stands in its product line (`os_support_status`): ``listed``; ``older-than-data``
  (older than every listed release of its line: unsupported); ``newer-than-data`` (newer
  than every listed one: the data needs an update); ``unlisted`` (no line for it, or between
  listed releases); None when the section does not say enough (no name, version or build,
  a Windows edition that is not known).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields
from typing import Any

from collector.policy.reference import (
    CLIENT_GROUP,
    SERVER_GROUP,
    Lifecycle,
    NamedRelease,
    OsSupport,
    ReferenceData,
    WindowsRelease,
    version_tuple,
)

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
    os_support_status: str | None = None
    os_support_line: str | None = None
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
           "os_support_estimated", "os_support_status", "os_support_line"),
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
        placed = place_os(part, reference) if reference is not None else OsPlacement(None)
        release = placed.entry
        windows = reference is not None and part.get("family") == "windows"
        return {
            "os_edition_group": edition_group(part.get("edition"), part.get("name"), reference)
            if windows and reference is not None
            else None,
            "os_support_end": release.end if release else None,
            "os_support_release": release_label(release) if release else None,
            "os_support_source": release.source if release else None,
            "os_support_estimated": release.estimated if release else None,
            "os_support_status": placed.status,
            "os_support_line": placed.line,
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


LISTED = "listed"
OLDER = "older-than-data"
NEWER = "newer-than-data"
UNLISTED = "unlisted"
WINDOWS_LINE = "Windows"


@dataclass(frozen=True)
class OsPlacement:
    """Where an `os` section's release stands in os_support.yaml (rules in the module doc)."""

    status: str | None
    entry: WindowsRelease | NamedRelease | None = None
    # The product line it was placed in ("Debian", "Windows (home_pro)"), if any.
    line: str | None = None


def os_release(os_info: Any, reference: ReferenceData) -> WindowsRelease | NamedRelease | None:
    """The reference entry for a report's `os` section, or None."""
    return place_os(os_info, reference).entry


def place_os(os_info: Any, reference: ReferenceData) -> OsPlacement:
    """The release of an `os` section and where it stands in its product line."""
    if not isinstance(os_info, dict):
        return OsPlacement(None)
    family = os_info.get("family")
    if family == "windows":
        return _place_windows(os_info, reference)
    if family not in ("linux", "darwin"):
        return OsPlacement(None)
    name = str(os_info.get("name") or "").lower()
    version = str(os_info.get("version") or "").strip()
    if not name or not version:
        return OsPlacement(None)
    for line, entries in reference.os_support.named_lines(family).items():
        if not any(n in name for n in entries[0].names):
            continue
        for entry in entries:
            if entry.matches(name, version):
                return OsPlacement(LISTED, entry, line)
        reported = version_tuple(version)
        if reported is None:
            return OsPlacement(UNLISTED, line=line)
        return OsPlacement(_standing(reported, entries), line=line)
    return OsPlacement(UNLISTED)


def _standing(reported: tuple[int, ...], entries: list[NamedRelease]) -> str:
    """Older than every entry, newer than every entry, or between them. The reported
    version is cut to each entry's precision (10.15.7 against macOS 11 compares 10 with 11;
    Debian 12.10 against 12 is neither older nor newer)."""

    def cut(entry: NamedRelease) -> tuple[int, ...]:
        if entry.match == "major":
            return reported[:1]
        if entry.match == "minor":
            return reported[:2]
        return reported

    if all(cut(e) < e.order for e in entries):
        return OLDER
    if all(cut(e) > e.order for e in entries):
        return NEWER
    return UNLISTED


def _place_windows(os_info: dict[str, Any], reference: ReferenceData) -> OsPlacement:
    support = reference.os_support
    build = major_build(os_info.get("build")) or major_build(os_info.get("version"))
    if build is None:
        return OsPlacement(None)
    group = edition_group(os_info.get("edition"), os_info.get("name"), reference)
    if group is None:
        # Edition unknown: only "older than every Windows release" can still be said.
        if support.windows and build < min(e.build for e in support.windows):
            return OsPlacement(OLDER, line=WINDOWS_LINE)
        return OsPlacement(None)
    line = f"{WINDOWS_LINE} ({group})"
    entries = support.windows_line(group)
    for entry in entries:
        if entry.build == build:
            return OsPlacement(LISTED, entry, line)
    if not entries:
        return OsPlacement(UNLISTED, line=line)
    if build < entries[0].build:
        return OsPlacement(OLDER, line=line)
    if group == CLIENT_GROUP:
        # A client of an edition in no group is known only among the releases that had one
        # date for every edition (before Windows 10); from Windows 10 on the edition decides.
        return OsPlacement(None)
    if build > entries[-1].build:
        return OsPlacement(NEWER, line=line)
    return OsPlacement(UNLISTED, line=line)


def line_releases(line: str, support: OsSupport) -> list[str]:
    """The labels of a product line's listed releases, oldest first (for messages)."""
    if line == WINDOWS_LINE:
        return [release_label(e) for e in sorted(support.windows, key=lambda e: e.build)]
    if line.startswith(f"{WINDOWS_LINE} (") and line.endswith(")"):
        return [release_label(e) for e in support.windows_line(line[len(WINDOWS_LINE) + 2 : -1])]
    for family in ("linux", "darwin"):
        entries = support.named_lines(family).get(line)
        if entries:
            return [e.label for e in entries]
    return []


def reported_release(os_info: Any) -> str | None:
    """How an `os` section names its release, for messages ("Ubuntu 18.04", "Microsoft
    Windows 7 Professional, build 7601")."""
    if not isinstance(os_info, dict):
        return None
    name = os_info.get("name")
    if os_info.get("family") == "windows":
        build = major_build(os_info.get("build")) or major_build(os_info.get("version"))
        parts = [str(name) if name else "Windows", f"build {build}" if build else None]
        return ", ".join(p for p in parts if p)
    version = os_info.get("version")
    text = " ".join(str(p) for p in (name, version) if p)
    return text or None


def support_reason(
    status: str | None,
    line: str | None,
    os_info: Any,
    *,
    release: str | None,
    end: dt.date | None,
    support: OsSupport,
) -> str:
    """One English sentence on where a release stands in os_support.yaml (the file is
    named, and its date where the data may be out of date)."""
    what = reported_release(os_info) or "the operating system"
    data = f"{support.file} (updated {support.updated.isoformat()})"
    releases = line_releases(line, support) if line else []
    if status == LISTED and release is not None and end is not None:
        return f"{release}: vendor security support ends {end.isoformat()} ({support.file})"
    if status == OLDER:
        oldest = f" (the oldest listed is {releases[0]})" if releases else ""
        return (
            f"{what} is older than every {line} release in {support.file}{oldest}: "
            "it no longer receives vendor security updates"
        )
    if status == NEWER:
        newest = f"; the newest listed is {releases[-1]}" if releases else ""
        return (
            f"{what} is newer than every {line} release in {support.file} "
            f"(updated {support.updated.isoformat()}{newest}): the OS support data needs an update"
        )
    if status == UNLISTED and line:
        return f"{what} is not listed among the {line} releases in {data}"
    if status == UNLISTED:
        return f"{what}: no release of this operating system is listed in {data}"
    return f"{what}: release not known (the os section lacks name, version, build or edition)"


def release_label(entry: WindowsRelease | NamedRelease) -> str:
    if isinstance(entry, WindowsRelease):
        if entry.group == CLIENT_GROUP:  # one date for every edition
            return f"{entry.product} {entry.release}"
        return f"{entry.product} {entry.release} ({entry.group})"
    return entry.label


def major_build(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    # "19045", "19045.5011", "10.0.19045", "10.0.19045.5011", "6.1.7601", "5.1.2600"
    parts = text.split(".")
    if len(parts) >= 3 and all(p.isdigit() and len(p) <= 2 for p in parts[:2]):
        parts = parts[2:]
    return int(parts[0]) if parts and parts[0].isdigit() and 4 <= len(parts[0]) <= 6 else None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


# Markers in os.name that decide the group whatever os.edition says: the agent takes the
# edition from the name's words, "Enterprise" from "Windows Server 2008 R2 Enterprise" and
# from "Windows 10 Enterprise LTSC".
_SERVER_NAME = re.compile(r"(?i)\bserver\b")
_LTSC_NAME = re.compile(r"(?i)\blts[bc]\b")
_IOT_NAME = re.compile(r"(?i)\biot\b")
# "Microsoft Windows 10 Pro", "Microsoft® Windows Vista™ Business", "Windows 8.1"
_WINDOWS_NAME = re.compile(
    r"(?i)^\s*(?:microsoft\s*(?:®|\(r\))?\s*)?windows\s*(?:®|\(r\))?\s*"
    r"(xp|vista|7|8\.1|8|10|11|2000|nt|me|98|95)?\s*(?:™|\(tm\))?"
)


def edition_group(edition: Any, name: Any, reference: ReferenceData) -> str | None:
    """The os_support edition group of a Windows edition ("Professional" -> "home_pro"):
    `server` and the LTSC groups by the name's markers first, then os.edition, then the
    edition in os.name; a client Windows of an edition in no group is `client`."""
    groups = reference.os_support.windows_edition_groups
    text = name if isinstance(name, str) else ""
    editions = {_norm(edition)} if isinstance(edition, str) and edition else set()
    if _SERVER_NAME.search(text) or editions & set(groups.get(SERVER_GROUP, [])):
        return SERVER_GROUP
    if _LTSC_NAME.search(text):
        return "iot_ltsc" if _IOT_NAME.search(text) else "ltsc"
    candidates: list[str] = []
    if isinstance(edition, str) and edition:
        candidates.append(_norm(edition))
    prefix = _WINDOWS_NAME.match(text)
    if prefix:
        candidates.append(_norm(text[prefix.end() :]))
    for candidate in candidates:
        stripped = re.sub(r"(n|kn)$", "", candidate)  # "ProfessionalN", "EnterpriseN"
        for group, names in groups.items():
            if candidate in names or stripped in names:
                return group
    if prefix and prefix.group(1):
        return CLIENT_GROUP
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
