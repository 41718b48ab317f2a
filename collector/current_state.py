"""A host's current state in the database: its sections (``host_sections``), the columns that
mirror them (collector.sections) and its derived facts (collector.policy.facts), written by ingest
and read by everyone else. The stored raw reports are history only: nothing here reads them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from agent.schema import SCHEMA_VERSION, SECTIONS
from collector.db import Database
from collector.models import Asset, DisplayRow, Host, HostSection, PolicyState, table_of
from collector.policy import facts
from collector.policy.reference import ReferenceData
from collector.reference_cache import current as current_reference
from collector.sections import COLLECTION, STATE_SECTIONS, rows

log = logging.getLogger(__name__)

_H = table_of(Host)
_HS = table_of(HostSection)
_D = table_of(DisplayRow)
_ASSET = table_of(Asset)
_STATE = table_of(PolicyState)
FACTS_DIGEST_KEY = "facts_digest"
_CHUNK = 500

_READ_SECTIONS = sa.select(_HS.c.host_id, _HS.c.section, _HS.c.data).where(
    _HS.c.host_id.in_(sa.bindparam("host_ids", expanding=True))
)
_READ_HASHES = sa.select(_HS.c.section, _HS.c.agent_hash).where(
    _HS.c.host_id == sa.bindparam("host_id")
)
_DELETE_SECTIONS = sa.delete(_HS).where(
    _HS.c.host_id == sa.bindparam("b_host_id"),
    _HS.c.section.in_(sa.bindparam("b_sections", expanding=True)),
)
_INSERT_SECTIONS = sa.insert(_HS)
_UPDATE_FACTS = (
    sa.update(_H)
    .where(_H.c.id == sa.bindparam("b_host_id"))
    .values(
        {
            c: sa.bindparam(f"b_{c}")
            for c in (*facts.HOST_FACT_COLUMNS, "start_date", "start_source")
        }
    )
)


# --- sections -------------------------------------------------------------------------------


def stored_sections(conn: sa.Connection, host_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """Each host's stored sections as JSON text."""
    out: dict[int, dict[str, str]] = {host_id: {} for host_id in host_ids}
    for i in range(0, len(host_ids), _CHUNK):
        chunk = list(host_ids[i : i + _CHUNK])
        for host_id, section, data in conn.execute(_READ_SECTIONS, {"host_ids": chunk}):
            out[host_id][section] = data
    return out


def stored_agent_hashes(conn: sa.Connection, host_id: int) -> dict[str, str]:
    """The hash the agent gave each stored section (what a delta's base is checked against)."""
    # .all(): dict() of the result itself would take it for a mapping (it has keys()).
    return dict(conn.execute(_READ_HASHES, {"host_id": host_id}).tuples().all())


def write_sections(
    conn: sa.Connection, host_id: int, sections: Mapping[str, tuple[str, str]]
) -> None:
    """Replaces the host's ``sections`` (name -> (JSON text, agent hash))."""
    if not sections:
        return
    conn.execute(_DELETE_SECTIONS, {"b_host_id": host_id, "b_sections": list(sections)})
    conn.execute(
        _INSERT_SECTIONS,
        [{"host_id": host_id, "section": name, "data": data, "agent_hash": h}
         for name, (data, h) in sections.items()],
    )  # fmt: skip


def current_reports(conn: sa.Connection, host_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each host's current state as report data: what its reports, merged, say now (the
    collection's timings aside). Hosts without sections are left out."""
    hosts = {
        row.id: row
        for i in range(0, len(host_ids), _CHUNK)
        for row in conn.execute(
            sa.select(
                _H.c.id,
                _H.c.last_report_id,
                _H.c.last_collected_at,
                _H.c.agent_id,
                _H.c.agent_version,
            ).where(_H.c.id.in_(list(host_ids[i : i + _CHUNK])))
        )
    }
    out: dict[int, dict[str, Any]] = {}
    for host_id, sections in stored_sections(conn, list(hosts)).items():
        if not sections:
            continue
        host = hosts[host_id]
        collected = host.last_collected_at
        report: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "report_id": host.last_report_id,
            "collected_at": collected.isoformat().replace("+00:00", "Z") if collected else None,
            "agent": {"id": host.agent_id, "version": host.agent_version},
        }
        for name in STATE_SECTIONS:
            text = sections.get(name)
            report[name] = json.loads(text) if text is not None else None
        if report[COLLECTION] is None:
            report[COLLECTION] = {"errors": []}
        out[host_id] = report
    return out


# --- derived facts --------------------------------------------------------------------------


def purchase_dates(
    conn: sa.Connection, org_id: int, serials: Iterable[str | None]
) -> dict[str, dt.date]:
    """Purchase dates from the asset register by serial, within one organization."""
    wanted = sorted({s for s in serials if s})
    if not wanted:
        return {}
    out: dict[str, dt.date] = {}
    for i in range(0, len(wanted), _CHUNK):
        for serial, date in conn.execute(
            sa.select(_ASSET.c.serial, _ASSET.c.purchase_date).where(
                _ASSET.c.org_id == org_id,
                _ASSET.c.serial.in_(wanted[i : i + _CHUNK]),
                _ASSET.c.purchase_date.is_not(None),
            )
        ):
            out[serial] = date
    return out


def host_fact_values(
    sections: Mapping[str, Any], reference: ReferenceData | None, purchase: dt.date | None
) -> dict[str, Any]:
    """The hosts columns of the derived facts (all None without reference data, but the
    start date, which needs none)."""
    if reference is None:
        values = facts.HostFacts(bios_date=facts.parse_date(_dict(sections.get("host")).get(
            "bios_date"))).columns()  # fmt: skip
    else:
        values = facts.host_facts(dict(sections), reference).columns()
    start, source = facts.host_start(purchase, values["bios_date"])
    values.update(start_date=start, start_source=source)
    return values


def display_rows(
    host_id: int,
    data: Any,
    *,
    chassis: Any,
    category: str | None,
    purchases: Mapping[str, dt.date],
) -> list[dict[str, Any]]:
    """The displays table's rows of a ``displays`` section, with their derived facts."""
    out = []
    for row in rows("displays", data):
        start, source = facts.monitor_start(purchases.get(row["serial"] or ""), row["year"])
        row.update(
            host_id=host_id,
            external=facts.external_monitor(row["internal"], chassis, category),
            start_date=start,
            start_source=source,
        )
        out.append(row)
    return out


def write_host_facts(conn: sa.Connection, host_id: int, values: Mapping[str, Any]) -> None:
    """Stores the host's derived facts (host_fact_values)."""
    conn.execute(_UPDATE_FACTS, {f"b_{k}": v for k, v in values.items()} | {"b_host_id": host_id})


def refresh_facts(
    conn: sa.Connection, reference: ReferenceData | None, host_ids: Sequence[int]
) -> None:
    """Recomputes the stored derived facts of ``host_ids`` from their stored sections (after
    the reference data or the asset register changed)."""
    for i in range(0, len(host_ids), _CHUNK):
        chunk = list(host_ids[i : i + _CHUNK])
        hosts = conn.execute(
            sa.select(_H.c.id, _H.c.org_id, _H.c.serial).where(_H.c.id.in_(chunk))
        ).all()
        sections = stored_sections(conn, chunk)
        parsed = {
            host_id: {name: json.loads(text) for name, text in s.items() if name in SECTIONS}
            for host_id, s in sections.items()
        }
        by_org: dict[int, list[str | None]] = {}
        for host in hosts:
            serials = by_org.setdefault(host.org_id, [])
            serials.append(host.serial)
            serials.extend(d.get("serial") for d in _list(parsed[host.id].get("displays")))
        purchases = {org: purchase_dates(conn, org, serials) for org, serials in by_org.items()}
        for host in hosts:
            current = parsed[host.id]
            if not current:
                continue
            bought = purchases[host.org_id]
            values = host_fact_values(current, reference, bought.get(host.serial or ""))
            write_host_facts(conn, host.id, values)
            chassis = _dict(current.get("host")).get("chassis")
            category = values["device_category"]
            if reference is None:  # the category needs the lifecycle: unknown, not guessed
                category = None
            for display_id, internal, serial, year in conn.execute(
                sa.select(_D.c.id, _D.c.internal, _D.c.serial, _D.c.year).where(
                    _D.c.host_id == host.id
                )
            ):
                start, source = facts.monitor_start(bought.get(serial or ""), year)
                conn.execute(
                    sa.update(_D)
                    .where(_D.c.id == display_id)
                    .values(external=facts.external_monitor(internal, chassis, category),
                            start_date=start, start_source=source)
                )  # fmt: skip


def refresh_all(db: Database, reference: ReferenceData | None, org_id: int | None = None) -> int:
    """Recomputes the derived facts of every host (of one organization); one transaction per
    batch, so that ingest is not held up for long. Returns how many hosts."""
    with db.engine.connect() as conn:
        query = sa.select(_H.c.id).order_by(_H.c.id)
        if org_id is not None:
            query = query.where(_H.c.org_id == org_id)
        ids = list(conn.execute(query).scalars())
    for i in range(0, len(ids), _CHUNK):
        with db.core_write() as tx:
            refresh_facts(tx.connection(), reference, ids[i : i + _CHUNK])
            tx.commit()
    return len(ids)


def refresh_facts_if_changed(db: Database, digest: str, reference: ReferenceData | None) -> bool:
    """All hosts' facts again when the reference data's digest differs from the one they were
    computed with (stored in the database, so replicas and restarts agree)."""
    with db.engine.connect() as conn:
        stored = conn.execute(
            sa.select(_STATE.c.value).where(_STATE.c.key == FACTS_DIGEST_KEY)
        ).scalar()
    if stored == digest:
        return False
    count = refresh_all(db, reference)
    with db.core_write() as tx:
        conn = tx.connection()
        conn.execute(sa.delete(_STATE).where(_STATE.c.key == FACTS_DIGEST_KEY))
        conn.execute(sa.insert(_STATE).values(key=FACTS_DIGEST_KEY, value=digest))
        tx.commit()
    log.info("reference data changed (digest %s): derived facts of %d hosts recomputed",
             digest[:12], count)  # fmt: skip
    return True


def reference() -> ReferenceData | None:
    """The reference data ingest derives facts with (collector.reference_cache)."""
    return current_reference()[1]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
