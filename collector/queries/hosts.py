"""Hosts: the filtered, sorted, paged list (API, web list, CSV export, overview counts) and
one host's details. Everything comes from the stored current state (hosts' columns and
derived facts, host_sections, the normalized rows, findings), never from raw reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from collector.current_state import current_reports
from collector.history import ReceivedReport, received_reports
from collector.models import (
    DisplayRow,
    Finding,
    Host,
    Organization,
    PendingPatchRow,
    SecurityUpdateSighting,
    Site,
    SoftwareRow,
    WlanRow,
    table_of,
    utcnow,
)
from collector.policy.facts import due_year
from collector.policy.reference import Lifecycle
from collector.reference_cache import current as current_reference

# WLAN security a host must not be connected with (the rule of sec.wlan.encryption and of
# the alert "open or WEP WLAN in use").
INSECURE_WLAN = ("open", "wep")


class OsOut(BaseModel):
    family: str | None
    name: str | None
    version: str | None


class HostItem(BaseModel):
    id: int
    hostname: str | None
    machine_id: str
    site: str
    site_kind: str
    os: OsOut
    last_seen: dt.datetime


class DeviceLife(BaseModel):
    """When a device's life began and what that rests on (collector.policy.facts)."""

    category: str | None
    start_date: dt.date | None
    start_source: str | None  # purchase | bios (hosts); purchase | edid (monitors)
    due_year: int | None


class DisplayLife(DeviceLife):
    connector: str | None
    vendor_pnp: str | None
    model: str | None
    serial: str | None
    external: bool | None


class OsSupport(BaseModel):
    release: str | None
    end: dt.date | None
    source: str | None
    estimated: bool | None


class HostDetail(HostItem):
    org: str
    agent_id: str | None
    fqdn: str | None
    serial: str | None
    manufacturer: str | None
    model: str | None
    chassis: str | None
    role: str | None
    first_seen: dt.datetime
    last_collected_at: dt.datetime | None
    derived: dict[str, Any]
    lifecycle: DeviceLife
    displays: list[DisplayLife]
    os_support: OsSupport
    # The host's current state as a report: its reports merged (the collection's timings
    # aside), from the stored sections.
    report: dict[str, Any] | None


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostFilter:
    """What the hosts list is filtered by; every field None/empty = no condition.

    ``check``: the host's current finding of that check has ``check_status`` (default fail);
    ``severity``: a check of one of these severities fails on the host (waived ones are
    accepted exceptions and do not count, as in the metrics); ``silent_days``: no report for
    more than N days; ``pending_days``: a security update pending for more than N days since
    the collector first saw it; ``support_ended``: the OS release's vendor support has
    ended; ``insecure_wlan``: connected to an open or WEP network; ``text``: part of the
    hostname, serial or model (case-insensitive).
    """

    site: str | None = None
    kind: str | None = None
    os: str | None = None
    os_version: str | None = None
    chassis: str | None = None
    role: str | None = None
    check: str | None = None
    check_status: str = "fail"
    severity: tuple[str, ...] = ()
    silent_days: int | None = None
    pending_days: int | None = None
    support_ended: bool = False
    insecure_wlan: bool = False
    text: str | None = None

    def with_site(self, name: str) -> HostFilter:
        return replace(self, site=name)


_H = table_of(Host)
_F = table_of(Finding)
_W = table_of(WlanRow)
_SIGHT = table_of(SecurityUpdateSighting)


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def host_conditions(org_id: int | None, f: HostFilter, now: dt.datetime | None = None) -> list[Any]:
    """The WHERE conditions of the list over ``hosts`` joined with ``sites``: one definition
    for the page, the API, the CSV export and the overview's counts."""
    now = now or utcnow()
    conds: list[Any] = []
    if org_id is not None:
        conds.append(col(Host.org_id) == org_id)
    for column, value in (
        (col(Site.name), f.site),
        (col(Site.kind), f.kind),
        (col(Host.os_family), f.os),
        (col(Host.os_version), f.os_version),
        (col(Host.chassis), f.chassis),
        (col(Host.role), f.role),
    ):
        if value is not None:
            conds.append(column == value)
    # Uncorrelated IN (subquery): computed once, not once per host (SQLite would otherwise
    # walk the findings' status index for every host; benchmarks/web.py).
    current = _F.c.resolved_at.is_(None)
    if f.check is not None:
        conds.append(
            col(Host.id).in_(
                sa.select(_F.c.host_id).where(
                    current, _F.c.check_id == f.check, _F.c.status == f.check_status
                )
            )
        )
    if f.severity:
        conds.append(
            col(Host.id).in_(
                sa.select(_F.c.host_id).where(
                    current, _F.c.status == "fail", _F.c.severity.in_(f.severity)
                )
            )
        )
    if f.silent_days is not None:
        conds.append(col(Host.last_seen) < now - dt.timedelta(days=f.silent_days))
    if f.pending_days is not None:
        since = now - dt.timedelta(days=f.pending_days)
        conds.append(
            col(Host.id).in_(sa.select(_SIGHT.c.host_id).where(_SIGHT.c.first_seen < since))
        )
    if f.support_ended:
        conds.append(col(Host.os_support_end) < now.date())
    if f.insecure_wlan:
        conds.append(
            col(Host.id).in_(
                sa.select(_W.c.host_id).where(
                    _W.c.connected.is_(True), _W.c.security.in_(INSECURE_WLAN)
                )
            )
        )
    if f.text:
        pattern = _like(f.text)
        conds.append(
            sa.or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (col(Host.hostname), col(Host.serial), col(Host.model))
                )
            )
        )
    return conds


SORTS: dict[str, tuple[Any, ...]] = {
    "hostname": (col(Host.hostname),),
    "site": (col(Site.name), col(Host.hostname)),
    "os": (col(Host.os_name), col(Host.os_version)),
    "chassis": (col(Host.chassis),),
    "model": (col(Host.model),),
    "last_seen": (col(Host.last_seen),),
    "id": (),
}


def order_by(sort: str, descending: bool = False) -> list[Any]:
    columns = [c.desc() if descending else c.asc() for c in SORTS.get(sort, ())]
    return [*columns, col(Host.id).desc() if descending else col(Host.id).asc()]


def hosts_select(
    org_id: int | None, f: HostFilter, *columns: Any, now: dt.datetime | None = None
) -> Any:
    """``SELECT columns FROM hosts JOIN sites WHERE <the filter>`` (default: Host, Site)."""
    what = columns or (Host, Site)
    return (
        select(*what)
        .select_from(Host)
        .join(Site, col(Site.id) == col(Host.site_id))
        .where(*host_conditions(org_id, f, now))
    )


def count_hosts(session: Session, org_id: int | None, f: HostFilter) -> int:
    query = hosts_select(org_id, f, func.count())
    return int(session.exec(query).one())


def counts_by_site(session: Session, org_id: int | None, f: HostFilter) -> dict[int, int]:
    """The length of the list ``f`` gives for each site (one GROUP BY over the same filter)."""
    query = hosts_select(org_id, f, col(Host.site_id), func.count()).group_by(col(Host.site_id))
    return {int(site_id): int(n) for site_id, n in session.exec(query)}


def list_page(
    session: Session,
    org_id: int | None,
    f: HostFilter,
    *,
    sort: str = "id",
    descending: bool = False,
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[Host, Site]]]:
    """The number of hosts the filter matches and one page of them (Host, Site)."""
    total = count_hosts(session, org_id, f)
    query = hosts_select(org_id, f).order_by(*order_by(sort, descending))
    rows = session.exec(query.offset(offset).limit(limit)).all()
    return total, [(h, s) for h, s in rows]


def item(host: Host, site: Site) -> HostItem:
    assert host.id is not None
    return HostItem(
        id=host.id,
        hostname=host.hostname,
        machine_id=host.machine_id,
        site=site.name,
        site_kind=site.kind,
        os=OsOut(family=host.os_family, name=host.os_name, version=host.os_version),
        last_seen=host.last_seen,
    )


def failing_counts(session: Session, host_ids: Sequence[int]) -> dict[int, int]:
    """How many checks currently fail on each of these hosts."""
    if not host_ids:
        return {}
    query = (
        select(col(Finding.host_id), func.count())
        .where(
            col(Finding.host_id).in_(list(host_ids)),
            col(Finding.resolved_at).is_(None),
            col(Finding.status) == "fail",
        )
        .group_by(col(Finding.host_id))
    )
    return {int(h): int(n) for h, n in session.exec(query)}


EXPORT_COLUMNS = (
    "id", "hostname", "site", "site_kind", "os_family", "os_name", "os_version", "chassis",
    "role", "manufacturer", "model", "serial", "last_seen",
)  # fmt: skip
EXPORT_CHUNK = 1000


def export_rows(
    session: Session, org_id: int | None, f: HostFilter, sort: str = "id", descending: bool = False
) -> Iterator[tuple[Any, ...]]:
    """Every host the filter matches (all pages), in the list's order, as EXPORT_COLUMNS;
    read in chunks so that the export streams."""
    query = hosts_select(
        org_id,
        f,
        col(Host.id), col(Host.hostname), col(Site.name), col(Site.kind), col(Host.os_family),
        col(Host.os_name), col(Host.os_version), col(Host.chassis), col(Host.role),
        col(Host.manufacturer), col(Host.model), col(Host.serial), col(Host.last_seen),
    ).order_by(*order_by(sort, descending))  # fmt: skip
    result = session.connection().execution_options(yield_per=EXPORT_CHUNK).execute(query)
    for row in result:
        yield tuple(row)


# --- one host -------------------------------------------------------------------------------


def derived_facts(report: dict[str, Any]) -> dict[str, Any]:
    """Facts computed from the current state for display; None = unknown."""
    software = report.get("software")
    patches = report.get("patches") or {}
    wlan = report.get("wlan") or {}
    interfaces = wlan.get("interfaces")
    displays = report.get("displays")
    open_wlan = None
    if interfaces is not None:
        open_wlan = any(
            i.get("connected") and i.get("security") in INSECURE_WLAN for i in interfaces
        )
    return {
        "software_count": len(software) if software is not None else None,
        "pending_updates": patches.get("pending_count"),
        "pending_security_updates": patches.get("pending_security_count"),
        "reboot_required": patches.get("reboot_required"),
        "connected_to_open_wlan": open_wlan,
        "display_count": len(displays) if displays is not None else None,
        "collection_errors": len((report.get("collection") or {}).get("errors") or []),
    }


def _shipped_lifecycle() -> Lifecycle | None:
    reference = current_reference()[1]
    return reference.lifecycle if reference else None


def host_detail(session: Session, host: Host, site: Site) -> HostDetail:
    """One host (already checked to be visible): current state, derived facts, lifecycle."""
    org = session.get(Organization, host.org_id)
    assert host.id is not None
    report = current_reports(session.connection(), [host.id]).get(host.id)
    lifecycle = _shipped_lifecycle()
    displays = session.exec(
        select(DisplayRow).where(DisplayRow.host_id == host.id).order_by(col(DisplayRow.id))
    ).all()
    return HostDetail(
        **item(host, site).model_dump(),
        org=org.name if org else "",
        agent_id=host.agent_id,
        fqdn=host.fqdn,
        serial=host.serial,
        manufacturer=host.manufacturer,
        model=host.model,
        chassis=host.chassis,
        role=host.role,
        first_seen=host.first_seen,
        last_collected_at=host.last_collected_at,
        derived=derived_facts(report) if report else {},
        lifecycle=DeviceLife(
            category=host.device_category,
            start_date=host.start_date,
            start_source=host.start_source,
            due_year=due_year(host.start_date, host.device_category, lifecycle)
            if lifecycle
            else None,
        ),
        displays=[
            DisplayLife(
                connector=d.connector,
                vendor_pnp=d.vendor_pnp,
                model=d.model,
                serial=d.serial,
                external=d.external,
                category="monitor" if d.external else None,
                start_date=d.start_date,
                start_source=d.start_source,
                due_year=due_year(d.start_date, "monitor", lifecycle)
                if lifecycle and d.external
                else None,
            )
            for d in displays
        ],
        os_support=OsSupport(
            release=host.os_support_release,
            end=host.os_support_end,
            source=host.os_support_source,
            estimated=host.os_support_estimated,
        ),
        report=report,
    )


def display_rows(session: Session, host_id: int) -> list[DisplayRow]:
    query = select(DisplayRow).where(DisplayRow.host_id == host_id).order_by(col(DisplayRow.id))
    return list(session.exec(query))


@dataclass(frozen=True)
class PendingUpdate:
    name: str | None
    installed: str | None
    available: str | None
    security: bool | None
    since: dt.datetime | None  # when the collector first saw it pending (security updates)


def pending_updates(session: Session, host_id: int) -> list[PendingUpdate]:
    """The host's pending updates, security ones first, each with since when it is pending."""
    query = (
        select(PendingPatchRow, SecurityUpdateSighting.first_seen)
        .outerjoin(
            SecurityUpdateSighting,
            sa.and_(
                col(SecurityUpdateSighting.host_id) == col(PendingPatchRow.host_id),
                col(SecurityUpdateSighting.name) == col(PendingPatchRow.name),
            ),
        )
        .where(PendingPatchRow.host_id == host_id)
        .order_by(col(PendingPatchRow.security).desc(), col(PendingPatchRow.name))
    )
    return [
        PendingUpdate(p.name, p.installed, p.available, p.security, since)
        for p, since in session.exec(query)
    ]


def software(
    session: Session, host_id: int, text: str | None, limit: int
) -> tuple[int, list[SoftwareRow]]:
    """The host's software whose name or publisher contains ``text``: the count and the
    first ``limit`` by name."""
    conds: list[Any] = [SoftwareRow.host_id == host_id]
    if text:
        pattern = _like(text)
        conds.append(
            sa.or_(
                func.lower(col(SoftwareRow.name)).like(pattern, escape="\\"),
                func.lower(col(SoftwareRow.publisher)).like(pattern, escape="\\"),
            )
        )
    total = session.exec(select(func.count()).select_from(SoftwareRow).where(*conds)).one()
    rows = session.exec(
        select(SoftwareRow).where(*conds).order_by(func.lower(col(SoftwareRow.name))).limit(limit)
    ).all()
    return int(total), list(rows)


def report_history(
    session: Session,
    host_id: int,
    *,
    offset: int,
    limit: int,
    newest_first: bool = False,
) -> tuple[int, list[ReceivedReport]]:
    """The host's reports in collection order (oldest first, or newest first): those of the
    last 45 days and the older ones that changed something (collector.history)."""
    reports = received_reports(session.connection(), host_id)
    if newest_first:
        reports.reverse()
    return len(reports), reports[offset : offset + limit]
