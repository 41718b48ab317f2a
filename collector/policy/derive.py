"""Derived facts: what the collector knows beyond one report, as plain CEL-ready data.

``derive()`` is pure: the collector passes what it has stored (when it first saw each
pending security update, the purchase date from its asset records) and the time. All
values are JSON-like or ``datetime`` (CEL timestamps); ``None`` means unknown.

Facts (the `derived` variable of the CEL expressions):
  now                         evaluation time (timestamp, UTC)
  os_support_end              end of vendor security support (timestamp, 00:00 UTC of the
                              last supported day) or null when the release is not in
                              data/os_support.yaml
  os_support_days_left        whole days from today to that day (negative once ended)
  windows_version             10 or 11 by build number (Windows only), else null
  os_support_release          matched release label, os_support_source its source,
                              os_support_estimated whether the vendor published no date
  os_support_status           where the release stands in data/os_support.yaml: "listed",
                              "older-than-data" (older than every listed release of its
                              product line: no vendor support), "newer-than-data" (newer than
                              every listed one: the data needs an update), "unlisted" (no
                              line for it, or between listed releases); null when the os
                              section does not say enough (collector.policy.facts)
  os_support_line             the product line ("Debian", "Windows (home_pro)"), or null
  os_support_oldest,          labels of the line's oldest and newest listed releases, or null
  os_support_newest
  os_support_reason           one English sentence saying all that (names the data file, and
                              its date where the data may be out of date)
  os_support_data_updated     the data file's `updated` date (YYYY-MM-DD)
  os_support_reported         the release as the report names it ("Ubuntu 40.04"), for texts
  security_pending_max_days   the longest time (days) any pending security update has been
                              pending, counted from the collector's first sighting; 0 when
                              none is pending or nothing is known about earlier sightings
                              (`policy eval` on one report); null when pending updates are
                              unknown
  device_age_years            age from the purchase date, else the BIOS date (years, float)
  device_age_source           "purchase" | "bios" | null
  device_category             lifecycle category of host.chassis (desktop/laptop/tablet)
  replacement_years           that category's replacement cycle (years)
  win11_cpu_supported         true / false / null (rules in data/hardware.yaml)
  antivirus_signature_age_days  age (days) of the newest signatures among products with
                              real-time protection on; null if unknown
  identity_changed            true when a report's hardware serial differed from the one the
                              collector had stored (a cloned machine id, a replaced mainboard)
                              and no admin has accepted it since; null without the collector's
                              history (`policy eval` on one report)
  identity_change             what changed ("serial A -> B"), or null
  vuln_kev_count,             the host's known vulnerabilities (collector.vulns) that CISA's
  vuln_kev_cves               KEV lists as exploited in the wild: how many, and the first five
                              CVEs ("CVE-2023-36033, ..."); null when the host has not been
                              matched or no KEV catalogue is imported
  vuln_critical_count,        its vulnerabilities rated critical by the vendor (Ubuntu's
  vuln_critical_cves          priority, MSRC's rating); null when not matched
  text_char_arcmin            per display, the visual angle (arc minutes) of standard body
                              text at the reference viewing distance (data/ergonomics.yaml);
                              null where size, resolution or scaling is unknown
"""

from __future__ import annotations

import datetime as dt
import math
import pickle
import re
from collections.abc import Mapping
from typing import Any

from collector.policy.facts import (
    device_category,
    host_start,
    line_releases,
    major_build,
    parse_date,
    place_os,
    release_label,
    reported_release,
    support_reason,
)
from collector.policy.reference import ReferenceData

DAYS_PER_YEAR = 365.2425


def derive(
    report: Mapping[str, Any],
    reference_data: ReferenceData,
    now: dt.datetime,
    first_seen_pending: Mapping[str, dt.datetime] | None = None,
    purchase_date: dt.date | None = None,
    *,
    identity_change: tuple[bool, str | None] | None = None,
    stored: Mapping[str, Any] | None = None,
    vulns: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute the derived facts of one report.

    ``first_seen_pending`` maps the name of a pending update to when the collector first
    saw it pending; ``purchase_date`` comes from the asset register; ``identity_change`` is
    the host's stored identity flag (changed?, what), None where the collector has none.
    ``stored`` are the host's stored derived facts (hosts columns, collector.policy.facts): the
    collector passes them, so that the checks judge by what metrics, budget and host view
    show; without them (`policy eval` on one report) they are computed by the same rules.
    """
    now = _aware(now)
    memos = reference_data.memos()
    facts: dict[str, Any] = {"now": now}
    facts.update(_os_support(report.get("os"), reference_data, now, stored, memos))
    facts["windows_version"] = windows_version(report.get("os"))
    facts["security_pending_max_days"] = _pending_days(
        report.get("patches"), first_seen_pending, now
    )
    facts.update(_age(report.get("host"), reference_data, now, purchase_date, stored))
    hardware = report.get("hardware") or {}
    model = hardware.get("cpu_model") if isinstance(hardware, dict) else None
    cpus = memos.setdefault("win11_cpu", {})
    if not isinstance(model, str) or model not in cpus:
        supported = cpu_supported(model, reference_data)
        if isinstance(model, str) and len(cpus) < MEMO_LIMIT:
            cpus[model] = supported
    else:
        supported = cpus[model]
    facts["win11_cpu_supported"] = supported
    facts["antivirus_signature_age_days"] = _antivirus_age(report.get("security"), now)
    facts["identity_changed"] = identity_change[0] if identity_change else None
    facts["identity_change"] = identity_change[1] if identity_change else None
    facts.update(_vulns(vulns))
    facts["text_char_arcmin"] = [
        text_char_arcmin(d, reference_data) for d in (report.get("displays") or [])
    ]
    return facts


def _vulns(vulns: Mapping[str, Any] | None) -> dict[str, Any]:
    """``vulns``: the collector's match of the host (collector.queries.vulns.summaries) with
    ``matched`` and ``kev_imported``; None (``policy eval`` on one report) = unknown."""
    facts: dict[str, Any] = {
        "vuln_kev_count": None,
        "vuln_kev_cves": None,
        "vuln_critical_count": None,
        "vuln_critical_cves": None,
    }
    if not vulns or not vulns.get("matched"):
        return facts
    critical = list(vulns.get("critical") or [])
    facts["vuln_critical_count"] = len(critical)
    facts["vuln_critical_cves"] = _first(critical)
    if vulns.get("kev_imported"):
        kev = list(vulns.get("kev") or [])
        facts["vuln_kev_count"] = len(kev)
        facts["vuln_kev_cves"] = _first(kev)
    return facts


def _first(cves: list[str], n: int = 5) -> str:
    return ", ".join(cves[:n]) + (f" (+{len(cves) - n})" if len(cves) > n else "")


# --- operating system support ---------------------------------------------------------


def windows_version(os_info: Any) -> int | None:
    """10 or 11 for Windows (by build number: 22000 and later is Windows 11), else None."""
    if not isinstance(os_info, dict) or os_info.get("family") != "windows":
        return None
    build = major_build(os_info.get("build")) or major_build(os_info.get("version"))
    if build is None:
        return None
    return 11 if build >= 22000 else 10


# Entries kept per memo of the reference data (ReferenceData.memos).
MEMO_LIMIT = 10_000
_STORED_OS = ("os_support_end", "os_support_release", "os_support_source",
              "os_support_estimated", "os_support_status", "os_support_line")  # fmt: skip


def _os_support(
    os_info: Any,
    reference: ReferenceData,
    now: dt.datetime,
    stored: Mapping[str, Any] | None,
    memos: dict[str, dict[Any, Any]],
) -> dict[str, Any]:
    """The OS support facts: all but the days left depend on the `os` section (or the
    stored placement) and the reference data only, and a fleet has few distinct ones."""
    memo = memos.setdefault("os_support", {})
    key = pickle.dumps((os_info, None if stored is None else [stored.get(k) for k in _STORED_OS]),
                       protocol=5)  # fmt: skip
    facts = memo.get(key)
    if facts is None:
        facts = _os_support_facts(os_info, reference, stored)
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = facts
    end = facts["os_support_end"]
    return facts | {"os_support_days_left": None if end is None else (end.date() - now.date()).days}


def _os_support_facts(
    os_info: Any, reference: ReferenceData, stored: Mapping[str, Any] | None
) -> dict[str, Any]:
    if stored is not None:
        end = stored.get("os_support_end")
        release, source = stored.get("os_support_release"), stored.get("os_support_source")
        estimated = stored.get("os_support_estimated")
        status, line = stored.get("os_support_status"), stored.get("os_support_line")
    else:
        placed = place_os(os_info, reference)
        entry = placed.entry
        end = entry.end if entry else None
        release = release_label(entry) if entry else None
        source = entry.source if entry else None
        estimated = entry.estimated if entry else None
        status, line = placed.status, placed.line
    support = reference.os_support
    releases = line_releases(line, support) if line else []
    facts: dict[str, Any] = {
        "os_support_status": status,
        "os_support_line": line,
        "os_support_oldest": releases[0] if releases else None,
        "os_support_newest": releases[-1] if releases else None,
        "os_support_reason": support_reason(
            status, line, os_info, release=release, end=end, support=support
        ),
        "os_support_reported": reported_release(os_info) or None,
        "os_support_data_updated": support.updated.isoformat(),
    }
    if end is None:
        return facts | {
            "os_support_end": None,
            "os_support_release": None,
            "os_support_source": None,
            "os_support_estimated": None,
        }
    return facts | {
        "os_support_end": dt.datetime.combine(end, dt.time(), dt.UTC),
        "os_support_release": release,
        "os_support_source": source,
        "os_support_estimated": estimated,
    }


# --- patches -------------------------------------------------------------------------


def _pending_days(
    patches: Any, first_seen: Mapping[str, dt.datetime] | None, now: dt.datetime
) -> int | None:
    if not isinstance(patches, dict):
        return None
    pending = patches.get("pending")
    if pending is None:
        # Only a count: nothing to key first sightings by. None pending -> 0; some
        # pending -> 0 for a single report (no history), unknown for the collector.
        count = patches.get("pending_security_count")
        if count is None:
            return None
        if count == 0 or first_seen is None:
            return 0
        return None
    security = [p for p in pending if isinstance(p, dict) and p.get("security") is True]
    if not security:
        return 0
    if not first_seen:
        return 0
    days = 0
    for update in security:
        seen = first_seen.get(str(update.get("name")))
        if seen is not None:
            days = max(days, (now - _aware(seen)).days)
    return days


# --- lifecycle -----------------------------------------------------------------------


def _age(
    host: Any,
    reference: ReferenceData,
    now: dt.datetime,
    purchase: dt.date | None,
    stored: Mapping[str, Any] | None,
) -> dict[str, Any]:
    host = host if isinstance(host, dict) else {}
    if stored is not None:
        category = stored.get("device_category")
        start, source = stored.get("start_date"), stored.get("start_source")
    else:
        category = device_category(host.get("chassis"), reference.lifecycle)
        start, source = host_start(purchase, parse_date(host.get("bios_date")))
    years = (
        reference.lifecycle.categories[category].replacement_years
        if category in reference.lifecycle.categories
        else None
    )
    age = None if start is None else round((now.date() - start).days / DAYS_PER_YEAR, 2)
    return {
        "device_age_years": age,
        "device_age_source": source,
        "device_category": category,
        "replacement_years": years,
    }


def cpu_supported(cpu_model: Any, reference: ReferenceData) -> bool | None:
    if not isinstance(cpu_model, str) or not cpu_model:
        return None
    model = cpu_model.lower()
    rules = reference.hardware.win11_cpu
    if any(re.search(p, model) for p in rules.supported):
        return True
    if any(re.search(p, model) for p in rules.unsupported):
        return False
    return None


# --- security ------------------------------------------------------------------------


def _antivirus_age(security: Any, now: dt.datetime) -> float | None:
    if not isinstance(security, dict) or not isinstance(security.get("antivirus"), list):
        return None
    ages = []
    for product in security["antivirus"]:
        if not isinstance(product, dict) or product.get("realtime") is not True:
            continue
        updated = _datetime(product.get("signatures_updated"))
        if updated is not None:
            ages.append((now - updated).total_seconds() / 86400)
    return round(min(ages), 2) if ages else None


# --- ergonomics ----------------------------------------------------------------------


def text_char_arcmin(display: Any, reference: ReferenceData) -> float | None:
    """Visual angle (arc minutes) of standard body text's capital letters on ``display``.

    pitch [mm] = width_cm * 10 / current_width_px; height [mm] = cap_px * scale * pitch;
    angle = 2 * atan(height / (2 * distance)), in arc minutes (data/ergonomics.yaml).
    """
    if not isinstance(display, dict):
        return None
    width_cm = display.get("width_cm")
    pixels = display.get("current_width_px")
    scale = display.get("scale")
    if not width_cm or not pixels or not scale:
        return None
    params = reference.ergonomics.text_size
    pitch_mm = float(width_cm) * 10.0 / float(pixels)
    height_mm = params.reference_cap_height_px * float(scale) * pitch_mm
    angle = 2 * math.atan(height_mm / (2 * params.viewing_distance_mm))
    return round(math.degrees(angle) * 60, 1)


# --- helpers -------------------------------------------------------------------------


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return _aware(value)
    if isinstance(value, str):
        try:
            return _aware(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None
