"""The devices that age and are replaced: hosts with a lifecycle category and their external
monitors, from the stored current state. One query for the metric
``inventar_devices_due_replacement`` and the budget forecast, so that both count the same
devices from the same start dates (collector.policy.facts says what each fact means).

The start of each device's life is stored (purchase date, else BIOS date / EDID year); the
category and whether a display is an external monitor follow from the stored chassis and
panel flag by the lifecycle in use: the shipped one (the stored facts are computed with it)
or a planner's ``--lifecycle`` file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from collector.models import DisplayRow, Host, Site, table_of
from collector.paging import in_scope
from collector.policy import facts
from collector.policy.reference import Lifecycle

_H = table_of(Host)
_S = table_of(Site)
_D = table_of(DisplayRow)


@dataclass(slots=True)
class AgingDevice:
    """A host of a lifecycle category, or an external monitor of one (``display_id``)."""

    key: str  # "host:ID", "monitor:HOST:VENDOR:INDEX"
    host_id: int
    org_id: int
    site: str
    site_kind: str
    category: str
    start: dt.date | None
    source: str | None  # purchase | bios | edid
    hostname: str | None
    serial: str | None
    # Make and model as stored (joined only when asked: the metric never needs them).
    make_model: tuple[str | None, str | None]
    role: str | None = None
    display_id: int | None = None
    internal: bool | None = None

    @property
    def model(self) -> str | None:
        return " ".join(str(p) for p in self.make_model if p) or None

    def due_year(self, lifecycle: Lifecycle) -> int | None:
        return facts.due_year(self.start, self.category, lifecycle)


@dataclass(slots=True)
class HostEntry:
    """A host as the budget sees it: its category (None: not budgeted) and chassis."""

    host_id: int
    chassis: str | None
    category: str | None
    # Whether any display of the host is marked as not its own panel (a notebook with a
    # monitor attached), whichever host a shared monitor is counted at.
    has_external_display: bool = False


def aging_devices(
    conn: sa.Connection,
    lifecycle: Lifecycle,
    *,
    org_id: int | None = None,
    site: str | None = None,
) -> tuple[list[AgingDevice], list[HostEntry]]:
    """Hosts with a category and their external monitors (a monitor seen by two hosts, e.g.
    on a shared desk, once: at the first host by id); and every host with its category."""
    devices: list[AgingDevice] = []
    entries: dict[int, HostEntry] = {}
    by_id: dict[int, AgingDevice] = {}
    # Rows unpacked as tuples and plain slotted objects: a scrape builds this for every
    # device of a state (benchmarks/metrics_scrape.py).
    for (
        host_id, host_org, chassis, role, hostname, serial, manufacturer, model, start,
        source, site_name, site_kind,
    ) in _hosts(conn, org_id, site):  # fmt: skip
        category = facts.device_category(chassis, lifecycle)
        entries[host_id] = HostEntry(host_id, chassis, category)
        device = AgingDevice(
            f"host:{host_id}", host_id, host_org, site_name, site_kind, category or "", start,
            source, hostname, serial,
            (manufacturer, model),
            role,
        )  # fmt: skip
        by_id[host_id] = device
        if category is not None:
            devices.append(device)
    seen: set[tuple[int, tuple[str, str]]] = set()
    index_of: dict[int, int] = {}
    for display_id, host_id, internal, vendor, model, serial, start, source in _displays(
        conn, org_id, site
    ):
        host = by_id[host_id]
        entry = entries[host_id]
        index = index_of.get(host_id, 0)
        index_of[host_id] = index + 1
        if internal is False:
            entry.has_external_display = True
        if facts.external_monitor(internal, entry.chassis, entry.category) is not True:
            continue
        identity = facts.monitor_identity(vendor, model, serial)
        if identity is not None:
            if (host.org_id, identity) in seen:
                continue
            seen.add((host.org_id, identity))
        devices.append(
            AgingDevice(
                f"monitor:{host_id}:{vendor or ''}:{index}", host_id, host.org_id, host.site,
                host.site_kind, "monitor", start, source, host.hostname, serial or None,
                (vendor, model), host.role, display_id, internal,
            )
        )  # fmt: skip
    return devices, list(entries.values())


def _hosts(conn: sa.Connection, org_id: int | None, site: str | None) -> Iterator[Any]:
    query = (
        sa.select(
            _H.c.id, _H.c.org_id, _H.c.chassis, _H.c.role, _H.c.hostname, _H.c.serial,
            _H.c.manufacturer, _H.c.model, _H.c.start_date, _H.c.start_source,
            _S.c.name.label("site"), _S.c.kind.label("site_kind"),
        )
        .join(_S, _S.c.id == _H.c.site_id)
        .order_by(_H.c.id)
    )  # fmt: skip
    yield from conn.execute(in_scope(query, org_id, site))


def _displays(conn: sa.Connection, org_id: int | None, site: str | None) -> Iterator[Any]:
    """The displays of the same hosts, each host's in the order the report listed them."""
    query = (
        sa.select(
            _D.c.id, _D.c.host_id, _D.c.internal, _D.c.vendor_pnp, _D.c.model,
            _D.c.serial, _D.c.start_date, _D.c.start_source,
        )
        .join(_H, _H.c.id == _D.c.host_id)
        .join(_S, _S.c.id == _H.c.site_id)
        .order_by(_D.c.host_id, _D.c.id)
    )  # fmt: skip
    yield from conn.execute(in_scope(query, org_id, site))
