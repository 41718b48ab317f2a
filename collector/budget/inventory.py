"""From the database to budget devices: hosts, their external monitors, purchase data and
the ergonomics checks that call for a purchase.

Everything comes from each host's latest report (``reports.raw`` of
``hosts.last_report_id``) and the host's site; purchase data from the asset register
(``assets``) by serial number - the host's serial, or a monitor's EDID serial.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from collector.budget.forecast import Device
from collector.budget.lifecycle import Lifecycle
from collector.models import Asset, Host, ReportRecord, Site
from collector.policy import PolicySet, derive, evaluate
from collector.policy.loader import DERIVED
from collector.services import ServiceError

NOTEBOOK_CHECK = "erg.notebook.external"
SIZE_CHECK = "erg.display.size"
ERGONOMICS_CHECKS = (NOTEBOOK_CHECK, SIZE_CHECK)
BATCH = 200


@dataclass
class Inventory:
    devices: list[Device] = field(default_factory=list)
    not_budgeted: Counter[str] = field(default_factory=Counter)
    sites: set[tuple[str, str]] = field(default_factory=set)


def ergonomics_checks(policies: PolicySet) -> PolicySet:
    """The two checks a purchase fixes, as a policy set of their own (cheap to evaluate)."""
    checks = tuple(c for c in policies.checks if c.id in ERGONOMICS_CHECKS)
    sections = frozenset().union(*(c.variables for c in checks)) - {DERIVED}
    return dataclasses.replace(policies, checks=checks, report_sections=sections)


def load_inventory(
    session: Session,
    lifecycle: Lifecycle,
    policies: PolicySet,
    *,
    org_id: int | None = None,
    site: str | None = None,
    now: dt.datetime | None = None,
) -> Inventory:
    """Devices of the organization ``org_id`` (None = all), optionally of one site."""
    now = now or dt.datetime.now(dt.UTC)
    checks = ergonomics_checks(policies)
    sites = select(Site)
    if org_id is not None:
        sites = sites.where(Site.org_id == org_id)
    if site is not None:
        sites = sites.where(Site.name == site)
    site_rows = session.exec(sites).all()
    if site is not None and not site_rows:
        # Another organization's site is as unknown as a site that does not exist.
        raise ServiceError(f"unknown site {site!r}", 404)
    assets_query = select(Asset)
    if org_id is not None:
        assets_query = assets_query.where(Asset.org_id == org_id)
    assets = {(a.org_id, a.serial): a for a in session.exec(assets_query).all()}
    inventory = Inventory(sites={(s.name, s.kind) for s in site_rows})
    seen_monitors: set[tuple[int, str, str]] = set()
    for host, site_row, raw in _hosts(session, org_id, site):
        report = _loads(raw)
        for device in _devices(
            host, site_row, report, lifecycle=lifecycle, checks=checks, assets=assets, now=now
        ):
            if device.category == "monitor" and device.serial and not device.new:
                # A monitor seen by two notebooks (shared desk) is one device.
                key = (host.org_id, device.model or "", device.serial)
                if key in seen_monitors:
                    continue
                seen_monitors.add(key)
            inventory.devices.append(device)
        if lifecycle.category_of(_chassis(host, report)) is None:
            inventory.not_budgeted[_chassis(host, report) or "unknown"] += 1
    return inventory


def _hosts(
    session: Session, org_id: int | None, site: str | None
) -> Iterator[tuple[Host, Site, str | None]]:
    query = (
        select(Host, Site, ReportRecord.raw)
        .join(Site, col(Site.id) == col(Host.site_id))
        .outerjoin(ReportRecord, col(ReportRecord.report_id) == col(Host.last_report_id))
        .order_by(col(Host.id))
        .execution_options(yield_per=BATCH)
    )
    if org_id is not None:
        query = query.where(Host.org_id == org_id)
    if site is not None:
        query = query.where(Site.name == site)
    yield from session.exec(query)


def _loads(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _chassis(host: Host, report: Mapping[str, Any]) -> str | None:
    section = report.get("host") or {}
    return host.chassis or (section.get("chassis") if isinstance(section, dict) else None)


def _devices(
    host: Host,
    site: Site,
    report: dict[str, Any],
    *,
    lifecycle: Lifecycle,
    checks: PolicySet,
    assets: Mapping[tuple[int, str], Asset],
    now: dt.datetime,
) -> list[Device]:
    section = report.get("host") if isinstance(report.get("host"), dict) else {}
    assert isinstance(section, dict)
    chassis = _chassis(host, report)
    category = lifecycle.category_of(chassis)
    here = Device(key="", site=site.name, site_kind=site.kind, category="", hostname=host.hostname)
    out: list[Device] = []
    asset = assets.get((host.org_id, host.serial)) if host.serial else None
    if category is not None:
        start, source = _host_start(asset, section.get("bios_date"))
        out.append(
            dataclasses.replace(
                here,
                key=f"host:{host.id}",
                category=category,
                start=start,
                age_source=source,
                serial=host.serial,
                model=" ".join(p for p in (host.manufacturer, host.model) if p) or None,
                asset_tag=asset.asset_tag if asset else None,
                cost_center=asset.cost_center if asset else None,
            )
        )
    if chassis == "vm":
        return out
    displays = [d for d in (report.get("displays") or []) if isinstance(d, dict)]
    monitors: list[Device] = []
    for index, display in enumerate(displays):
        internal = display.get("internal")
        if not (internal is False or (internal is None and category == "desktop")):
            continue
        serial = display.get("serial") or None
        monitor_asset = assets.get((host.org_id, serial)) if serial else None
        start, source = _monitor_start(monitor_asset, display.get("year"))
        model = " ".join(str(p) for p in (display.get("vendor_pnp"), display.get("model")) if p)
        monitors.append(
            dataclasses.replace(
                here,
                key=f"monitor:{host.id}:{display.get('vendor_pnp') or ''}:{index}",
                category="monitor",
                start=start,
                age_source=source,
                serial=serial,
                model=model or None,
                asset_tag=monitor_asset.asset_tag if monitor_asset else None,
                cost_center=monitor_asset.cost_center if monitor_asset else None,
            )
        )
    failing = _failing_checks(report, checks, asset, now) if category else set()
    new_monitor = False
    if NOTEBOOK_CHECK in failing and not any(d.get("internal") is False for d in displays):
        new_monitor = True
    if SIZE_CHECK in failing:
        if monitors:
            # One larger monitor fixes the check; it replaces the monitor due first.
            oldest = min(
                range(len(monitors)),
                key=lambda i: monitors[i].start or dt.date.max,
            )
            monitors[oldest] = dataclasses.replace(monitors[oldest], ergonomics=SIZE_CHECK)
        else:
            new_monitor = True
    if new_monitor:
        check = NOTEBOOK_CHECK if NOTEBOOK_CHECK in failing else SIZE_CHECK
        monitors.append(
            dataclasses.replace(
                here,
                key=f"monitor:{host.id}:new",
                category="monitor",
                ergonomics=check,
                new=True,
            )
        )
    return out + monitors


def _host_start(asset: Asset | None, bios_date: Any) -> tuple[dt.date | None, Any]:
    if asset is not None and asset.purchase_date is not None:
        return asset.purchase_date, "purchase"
    if isinstance(bios_date, str):
        try:
            return dt.date.fromisoformat(bios_date[:10]), "bios"
        except ValueError:
            pass
    return None, None


def _monitor_start(asset: Asset | None, year: Any) -> tuple[dt.date | None, Any]:
    if asset is not None and asset.purchase_date is not None:
        return asset.purchase_date, "purchase"
    if isinstance(year, int) and 1990 <= year <= 2255:
        return dt.date(year, 1, 1), "edid"
    return None, None


def _failing_checks(
    report: dict[str, Any], checks: PolicySet, asset: Asset | None, now: dt.datetime
) -> set[str]:
    """Ids of the ergonomics checks that fail on this report (unknown is not fail)."""
    if not report or not checks.checks:
        return set()
    host = report.get("host")
    if not isinstance(host, dict) or host.get("role") != "workplace":
        return set()
    purchase = asset.purchase_date if asset else None
    facts = derive(report, checks.reference, now, purchase_date=purchase)
    return {r.check for r in evaluate(checks, report, facts) if r.status == "fail"}
