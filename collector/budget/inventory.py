"""From the database to budget devices: hosts, their external monitors, purchase data and
the ergonomics findings that call for a purchase.

Everything comes from the stored current state (collector.replacement: categories, start
dates, external monitors) and the findings; asset tags and cost centres from the asset
register (``assets``) by serial number. No report is parsed here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlmodel import Session, select

from collector.budget.forecast import Device
from collector.budget.lifecycle import Lifecycle
from collector.models import Asset, Finding, Site, table_of
from collector.replacement import AgingDevice, aging_devices
from collector.services import ServiceError

NOTEBOOK_CHECK = "erg.notebook.external"
SIZE_CHECK = "erg.display.size"
ERGONOMICS_CHECKS = (NOTEBOOK_CHECK, SIZE_CHECK)

_F = table_of(Finding)


@dataclass
class Inventory:
    devices: list[Device] = field(default_factory=list)
    not_budgeted: Counter[str] = field(default_factory=Counter)
    sites: set[tuple[str, str]] = field(default_factory=set)


def load_inventory(
    session: Session,
    lifecycle: Lifecycle,
    *,
    org_id: int | None = None,
    site: str | None = None,
) -> Inventory:
    """Devices of the organization ``org_id`` (None = all), optionally of one site."""
    sites = select(Site)
    if org_id is not None:
        sites = sites.where(Site.org_id == org_id)
    if site is not None:
        sites = sites.where(Site.name == site)
    site_rows = session.exec(sites).all()
    if site is not None and not site_rows:
        # Another organization's site is as unknown as a site that does not exist.
        raise ServiceError(f"unknown site {site!r}", 404)
    conn = session.connection()
    aging, hosts = aging_devices(conn, lifecycle, org_id=org_id, site=site)
    assets_query = select(Asset)
    if org_id is not None:
        assets_query = assets_query.where(Asset.org_id == org_id)
    assets = {(a.org_id, a.serial): a for a in session.exec(assets_query).all()}
    failing = _failing_ergonomics(conn, [h.host_id for h in hosts if h.category is not None])
    inventory = Inventory(sites={(s.name, s.kind) for s in site_rows})
    for entry in hosts:
        if entry.category is None:
            inventory.not_budgeted[entry.chassis or "unknown"] += 1
    by_host: dict[int, list[AgingDevice]] = {}
    for device in aging:
        by_host.setdefault(device.host_id, []).append(device)
    external = {h.host_id for h in hosts if h.has_external_display}
    for host_id, devices in by_host.items():
        inventory.devices.extend(
            _devices(devices, assets, failing.get(host_id, set()), host_id in external)
        )
    return inventory


def _failing_ergonomics(conn: sa.Connection, host_ids: list[int]) -> dict[int, set[str]]:
    """The ergonomics checks a purchase fixes that fail now (waived ones are no purchase)."""
    out: dict[int, set[str]] = {}
    for i in range(0, len(host_ids), 500):
        for host_id, check in conn.execute(
            sa.select(_F.c.host_id, _F.c.check_id).where(
                _F.c.host_id.in_(host_ids[i : i + 500]),
                _F.c.check_id.in_(ERGONOMICS_CHECKS),
                _F.c.resolved_at.is_(None),
                _F.c.status == "fail",
            )
        ):
            out.setdefault(host_id, set()).add(check)
    return out


def _budget_device(device: AgingDevice, assets: Mapping[tuple[int, str], Asset]) -> Device:
    asset = assets.get((device.org_id, device.serial)) if device.serial else None
    source = device.source if device.source in ("purchase", "bios", "edid") else None
    return Device(
        key=device.key,
        site=device.site,
        site_kind=device.site_kind,
        category=device.category,
        start=device.start,
        age_source=source,  # type: ignore[arg-type]
        hostname=device.hostname,
        serial=device.serial,
        model=device.model,
        asset_tag=asset.asset_tag if asset else None,
        cost_center=asset.cost_center if asset else None,
    )


def _devices(
    aging: list[AgingDevice],
    assets: Mapping[tuple[int, str], Asset],
    failing: set[str],
    has_external_display: bool,
) -> list[Device]:
    """A host's budget devices: itself, its monitors, and the purchases its failing
    ergonomics checks of a workplace call for."""
    host = next((d for d in aging if d.category != "monitor"), None)
    out = [_budget_device(d, assets) for d in aging if d.category != "monitor"]
    monitors = [_budget_device(d, assets) for d in aging if d.category == "monitor"]
    if host is None or host.role != "workplace":
        failing = set()
    new_monitor = False
    if NOTEBOOK_CHECK in failing and not has_external_display:
        new_monitor = True
    if SIZE_CHECK in failing:
        if monitors:
            # One larger monitor fixes the check; it replaces the monitor due first.
            oldest = min(range(len(monitors)), key=lambda i: monitors[i].start or dt.date.max)
            monitors[oldest] = replace(monitors[oldest], ergonomics=SIZE_CHECK)
        else:
            new_monitor = True
    if new_monitor and host is not None:
        check = NOTEBOOK_CHECK if NOTEBOOK_CHECK in failing else SIZE_CHECK
        monitors.append(
            Device(
                key=f"monitor:{host.host_id}:new",
                site=host.site,
                site_kind=host.site_kind,
                category="monitor",
                hostname=host.hostname,
                ergonomics=check,
                new=True,
            )
        )
    return out + monitors
