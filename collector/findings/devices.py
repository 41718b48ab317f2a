"""Findings of devices found on the network (policies/devices.yaml): evaluated like hosts'
(one row per device and check and episode, the same life and waivers), stored in
``device_findings``.

A device is evaluated when a discovery reports it, when a host reports whose interfaces
may make a device managed (its MAC), when the packs change, and when it has no findings yet
(the evaluator's periodic work). What a check sees of a device is :func:`device_facts`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from collector.db import Database
from collector.discovery import managed_expression
from collector.findings.store import (
    Changes,
    current_findings,
    diff,
    expired_waiver_ids,
    statements,
    write,
)
from collector.models import (
    Device,
    DeviceFinding,
    Host,
    InterfaceRow,
    Site,
    WaiverRecord,
    table_of,
    utcnow,
)
from collector.paging import page, where_given
from collector.policy import PolicySet, Waiver, evaluate_device

log = logging.getLogger(__name__)

BATCH_SIZE = 500
DEVICE_FINDINGS = statements(table_of(DeviceFinding), "device_id")
_D = table_of(Device)
_DF = table_of(DeviceFinding)
_S = table_of(Site)
_W = table_of(WaiverRecord)
_I = table_of(InterfaceRow)


def device_facts(row: Any) -> dict[str, Any]:
    """What the device checks see (the variable ``device``)."""
    return {
        "mac": row.mac,
        "ip": row.ip,
        "vendor": row.vendor,
        "open_ports": sorted(row.open_ports or []),
        "managed": bool(row.managed),
        "site": row.site,
        "site_kind": row.site_kind,
    }


def evaluate_devices(
    db: Database,
    device_ids: Iterable[int],
    policies: PolicySet,
    *,
    now: dt.datetime | None = None,
) -> int:
    """Evaluate the device checks on each device and store the findings; returns how many
    devices. One transaction per batch."""
    if not policies.device_checks:
        return 0
    now = now or utcnow()
    ids = sorted(set(device_ids))
    done = 0
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        for attempt in range(3):
            try:
                done += _evaluate_batch(db, chunk, policies, now)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("findings of devices %s changed concurrently; evaluating again", chunk)
    return done


def _evaluate_batch(
    db: Database, device_ids: Sequence[int], policies: PolicySet, now: dt.datetime
) -> int:
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                _D.c.id, _D.c.mac, _D.c.ip, _D.c.vendor, _D.c.open_ports, _D.c.site_id,
                _S.c.name.label("site"), _S.c.kind.label("site_kind"),
                managed_expression().label("managed"),
            )
            .join(_S, _S.c.id == _D.c.site_id)
            .where(_D.c.id.in_(device_ids))
        ).all()  # fmt: skip
        if not rows:
            return 0
        ids = [row.id for row in rows]
        current = current_findings(conn, DEVICE_FINDINGS, ids)
        checks = [c.id for c in policies.device_checks]
        waivers = _waivers(conn, ids, sorted({row.site_id for row in rows}), checks)
    changes = Changes([], [], [], [], ids, [], [])
    for row in rows:
        records = waivers.get(row.id, []) + waivers.get(-row.site_id, [])
        results = evaluate_device(
            policies,
            device_facts(row),
            [Waiver(w.check_id, w.reason, w.until, host=row.mac) for w in records],
            now=now,
        )
        diff(("device_id", row.id), results, current.get(row.id, {}), records, now=now,
             changes=changes)  # fmt: skip
    with db.write_session() as session:
        write(session.connection(), DEVICE_FINDINGS, changes, now)
        session.commit()
    return len(rows)


def _waivers(
    conn: sa.Connection, device_ids: Sequence[int], site_ids: Sequence[int], checks: list[str]
) -> dict[int, list[WaiverRecord]]:
    """Waivers by device id, and by negative site id for site waivers of device checks."""
    out: dict[int, list[WaiverRecord]] = {}
    rows = conn.execute(
        sa.select(_W).where(
            sa.or_(
                _W.c.device_id.in_(device_ids),
                sa.and_(_W.c.site_id.in_(site_ids), _W.c.check_id.in_(checks)),
            )
        )
    ).mappings()
    for row in rows:
        waiver = WaiverRecord(**row)
        key = waiver.device_id if waiver.device_id is not None else -(waiver.site_id or 0)
        out.setdefault(key, []).append(waiver)
    return out


# --- which devices to evaluate ------------------------------------------------------------


def all_device_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return list(conn.execute(sa.select(_D.c.id).order_by(_D.c.id)).scalars())


def unevaluated_device_ids(db: Database) -> list[int]:
    """Devices without findings (stored while no evaluator ran)."""
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(_D.c.id)
                .where(~sa.exists().where(_DF.c.device_id == _D.c.id))
                .order_by(_D.c.id)
            ).scalars()
        )


def expired_waiver_device_ids(db: Database, today: dt.date) -> list[int]:
    """Devices with a current finding waived by a waiver that has expired (or was removed)."""
    return expired_waiver_ids(db, DEVICE_FINDINGS, today)


def device_ids_of_hosts(db: Database, host_ids: Sequence[int]) -> list[int]:
    """Devices whose MAC is an interface of one of the hosts (of the same organization):
    a report of those hosts may have made them managed."""
    if not host_ids:
        return []
    hosts = table_of(Host)
    mac = sa.func.lower(sa.func.replace(_I.c.mac, "-", ":"))
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(_D.c.id)
                .join(_I, mac == _D.c.mac)
                .join(hosts, sa.and_(hosts.c.id == _I.c.host_id, hosts.c.org_id == _D.c.org_id))
                .where(_I.c.host_id.in_(list(host_ids)))
                .distinct()
            ).scalars()
        )


def device_ids_by_mac(conn: sa.Connection, org_id: int, macs: Sequence[str]) -> list[int]:
    if not macs:
        return []
    return list(
        conn.execute(
            sa.select(_D.c.id).where(_D.c.org_id == org_id, _D.c.mac.in_(list(macs)))
        ).scalars()
    )


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceFindingView:
    id: int
    device_id: int
    mac: str
    ip: str | None
    vendor: str | None
    site: str
    check: str
    status: str
    severity: str
    category: str
    message: str
    messages: dict[str, str]
    first_seen: dt.datetime
    last_seen: dt.datetime
    resolved_at: dt.datetime | None
    waiver_reason: str | None
    waiver_until: dt.date | None


def device_findings(
    session: Session,
    *,
    org_id: int | None,
    mac: str | None = None,
    filters: Sequence[tuple[Any, Any]] = (),
    history: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[DeviceFindingView], int]:
    """Device findings of an organization (None: all), current or with history; ``filters``
    are (column name of device_findings or "site", value) pairs, None values ignored."""
    query: Any = (
        sa.select(_DF, _D.c.mac, _D.c.ip, _D.c.vendor, _S.c.name.label("site"))
        .join(_D, _D.c.id == _DF.c.device_id)
        .join(_S, _S.c.id == _D.c.site_id)
    )
    if org_id is not None:
        query = query.where(_D.c.org_id == org_id)
    if mac is not None:
        query = query.where(_D.c.mac == mac)
    if not history:
        query = query.where(_DF.c.resolved_at.is_(None))
    columns = {"site": _S.c.name, **{c.name: c for c in _DF.c}}
    query = where_given(query, *((columns[name], value) for name, value in filters))
    total, rows = page(session, query, _DF.c.device_id, _DF.c.check_id, _DF.c.id,
                       offset=offset, limit=limit)  # fmt: skip
    items = [
        DeviceFindingView(
            id=r.id, device_id=r.device_id, mac=r.mac, ip=r.ip, vendor=r.vendor, site=r.site,
            check=r.check_id, status=r.status, severity=r.severity, category=r.category,
            message=r.message,
            messages={"en": r.message} | ({"de": r.message_de} if r.message_de else {}),
            first_seen=r.first_seen, last_seen=r.last_seen, resolved_at=r.resolved_at,
            waiver_reason=r.waiver_reason, waiver_until=r.waiver_until,
        )
        for r in rows
    ]  # fmt: skip
    return items, int(total)


def device_visible(session: Session, org_id: int | None, mac: str) -> bool:
    """Whether the organization (None: any) has a device with this MAC."""
    query = sa.select(_D.c.id).where(_D.c.mac == mac)
    if org_id is not None:
        query = query.where(_D.c.org_id == org_id)
    return session.execute(query.limit(1)).first() is not None
