"""Waivers stored in the database: add, list, remove (shared by the CLI and tests).

A waiver names a check, one host (by hostname, FQDN or machine id, resolved to the host when
added), one discovered device (by MAC address, for the device checks) or one site, a reason
and the last day it holds (``until``, inclusive). A waived
failure is shown as ``waived`` with the reason and date; after ``until`` it is ``fail`` again
(the evaluator's periodic job re-evaluates hosts whose waiver expired).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from collector import audit
from collector.audit import Actor
from collector.discovery import normalize_mac
from collector.models import Device, Host, Site, WaiverRecord
from collector.policy import PolicySet
from collector.services import ServiceError, get_site

MAX_REASON = 1000


@dataclass(frozen=True)
class WaiverInfo:
    id: int
    check: str
    host: str | None
    host_id: int | None
    site: str
    reason: str
    until: dt.date
    expired: bool
    device: str | None = None  # the device's MAC, for a waiver of a device check


def find_host(session: Session, name: str) -> Host:
    """The one host whose hostname, FQDN (case-insensitive) or machine id is ``name``."""
    wanted = name.strip()
    if not wanted:
        raise ServiceError("--host must name a host (hostname or machine id)")
    lowered = wanted.lower()
    hosts = session.exec(
        select(Host).where(
            sa.or_(
                col(Host.machine_id) == wanted,
                func.lower(col(Host.hostname)) == lowered,
                func.lower(col(Host.fqdn)) == lowered,
            )
        )
    ).all()
    if not hosts:
        raise ServiceError(f"unknown host {wanted!r} (give a hostname or machine id)", 404)
    if len(hosts) > 1:
        ids = ", ".join(f"{h.id} ({h.machine_id})" for h in hosts)
        raise ServiceError(f"host {wanted!r} is ambiguous: it matches hosts {ids}; "
                           "give the machine id")  # fmt: skip
    return hosts[0]


def parse_until(value: str | dt.date, today: dt.date) -> dt.date:
    if isinstance(value, dt.date):
        until = value
    else:
        try:
            until = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ServiceError(f"--until must be a date YYYY-MM-DD, not {value!r}") from None
    if until < today:
        raise ServiceError(f"--until {until.isoformat()} is in the past")
    return until


def add_waiver(
    session: Session,
    *,
    check: str,
    reason: str,
    until: str | dt.date,
    policies: PolicySet,
    host: str | None = None,
    host_id: int | None = None,
    site: str | None = None,
    device: str | None = None,
    today: dt.date | None = None,
    actor: Actor | None = None,
) -> tuple[WaiverRecord, list[int]]:
    """Store a waiver; returns it and the ids of the hosts it covers (to re-evaluate; a
    device waiver covers no host: :func:`covered_devices`). The host is named (``host``:
    hostname, FQDN or machine id) or, from the web UI, given by its id (``host_id``), which is
    never ambiguous."""
    today = today or dt.datetime.now(dt.UTC).date()
    if sum(x is not None for x in (host, host_id, site, device)) != 1:
        raise ServiceError("a waiver names exactly one of --host, --device or --site")
    device_checks = {c.id for c in policies.device_checks}
    if device is not None and check not in device_checks:
        raise ServiceError(f"{check!r} is not a device check (policies/devices.yaml)")
    if (host is not None or host_id is not None) and check in device_checks:
        raise ServiceError(f"{check!r} is a device check: name the device with --device MAC")
    if check not in {c.id for c in policies.checks} | device_checks:
        raise ServiceError(f"unknown check {check!r} (not in the policy packs in "
                           f"{policies.directory})", 404)  # fmt: skip
    reason = reason.strip()
    if not reason:
        raise ServiceError("--reason must say why the failure is accepted")
    if len(reason) > MAX_REASON:
        raise ServiceError(f"--reason is longer than {MAX_REASON} characters")
    day = parse_until(until, today)
    record = WaiverRecord(check_id=check, reason=reason, until=day)
    if host_id is not None:
        if session.get(Host, host_id) is None:
            raise ServiceError(f"unknown host {host_id}", 404)
        record.host_id = host_id
    elif host is not None:
        found = find_host(session, host)
        record.host_id = found.id
    elif device is not None:
        record.device_id = find_device(session, device).id
    else:
        record.site_id = get_site(session, site or "").id
    session.add(record)
    session.flush()
    _audit(session, "waiver.add", record, actor)
    session.commit()
    return record, covered_hosts(session, record)


def _audit(session: Session, action: str, waiver: WaiverRecord, actor: Actor | None) -> None:
    """The audit entry of a waiver: what it covers, in words, and its organization."""
    org_id: int | None = None
    what = ""
    if waiver.host_id is not None:
        host = session.get(Host, waiver.host_id)
        org_id = host.org_id if host else None
        what = f"host {host.hostname or host.machine_id}" if host else f"host {waiver.host_id}"
    elif waiver.device_id is not None:
        device = session.get(Device, waiver.device_id)
        org_id = device.org_id if device else None
        what = f"device {device.mac}" if device else f"device {waiver.device_id}"
    else:
        site = session.get(Site, waiver.site_id)
        org_id = site.org_id if site else None
        what = f"site {site.name}" if site else f"site {waiver.site_id}"
    audit.record(
        session, action, f"{waiver.check_id} @ {what}", actor=actor, org_id=org_id,
        reason=waiver.reason, until=waiver.until, waiver_id=waiver.id,
    )  # fmt: skip


def find_device(session: Session, mac: str) -> Device:
    """The discovered device with this MAC address (any spelling of it)."""
    try:
        wanted = normalize_mac(mac)
    except ValueError as exc:
        raise ServiceError(f"--device: {exc}") from None
    found = session.exec(select(Device).where(Device.mac == wanted)).all()
    if not found:
        raise ServiceError(f"unknown device {wanted} (not found by any discovery)", 404)
    if len(found) > 1:
        raise ServiceError(f"device {wanted} was found in several organizations")
    return found[0]


def covered_devices(session: Session, waiver: WaiverRecord) -> list[int]:
    """The devices a waiver covers (to re-evaluate)."""
    if waiver.device_id is not None:
        return [waiver.device_id]
    if waiver.site_id is None:
        return []
    query = select(Device.id).where(Device.site_id == waiver.site_id)
    return [device_id for device_id in session.exec(query) if device_id is not None]


def covered_hosts(session: Session, waiver: WaiverRecord) -> list[int]:
    if waiver.host_id is not None:
        return [waiver.host_id]
    if waiver.device_id is not None:
        return []
    query = select(Host.id).where(Host.site_id == waiver.site_id)
    return [host_id for host_id in session.exec(query) if host_id is not None]


def list_waivers(session: Session, today: dt.date | None = None) -> list[WaiverInfo]:
    today = today or dt.datetime.now(dt.UTC).date()
    rows = session.exec(
        select(WaiverRecord, Host, Device, Site)
        .outerjoin(Host, col(Host.id) == col(WaiverRecord.host_id))
        .outerjoin(Device, col(Device.id) == col(WaiverRecord.device_id))
        .join(
            Site,
            col(Site.id)
            == sa.func.coalesce(col(WaiverRecord.site_id), col(Host.site_id), col(Device.site_id)),
        )
        .order_by(col(WaiverRecord.id))
    ).all()
    out = []
    for waiver, host, device, site in rows:
        assert waiver.id is not None
        out.append(
            WaiverInfo(
                id=waiver.id,
                check=waiver.check_id,
                host=(host.hostname or host.machine_id) if host is not None else None,
                host_id=waiver.host_id,
                site=site.name,
                reason=waiver.reason,
                until=waiver.until,
                expired=waiver.until < today,
                device=device.mac if device is not None else None,
            )
        )
    return out


def remove_waiver(session: Session, waiver_id: int, *, actor: Actor | None = None) -> list[int]:
    """Delete a waiver; returns the ids of the hosts it covered (to re-evaluate)."""
    waiver = session.get(WaiverRecord, waiver_id)
    if waiver is None:
        raise ServiceError(f"unknown waiver {waiver_id}", 404)
    hosts = covered_hosts(session, waiver)
    _audit(session, "waiver.remove", waiver, actor)
    session.delete(waiver)
    session.commit()
    return hosts
