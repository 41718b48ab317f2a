"""A host's current state in the database: its sections (``host_sections``), the columns that
mirror them (collector.sections) and its derived facts (collector.policy.facts), written by ingest
and read by everyone else. The stored raw reports are history only: nothing here reads them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from agent.schema import SCHEMA_VERSION
from collector import fastjson
from collector.agent_hash import agent_hash
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
_READ_SOME_SECTIONS = _READ_SECTIONS.where(_HS.c.section.in_(sa.bindparam("names", expanding=True)))
# What the derived facts are computed from (the start of life needs no other section).
_FACT_SOURCES = (*facts.FACTS_OF_SECTION, "displays")
_SET_HASH = (
    sa.update(_HS)
    .where(_HS.c.host_id == sa.bindparam("b_host_id"), _HS.c.section == sa.bindparam("b_section"))
    .values(agent_hash=sa.bindparam("b_hash"))
)
_READ_HASHES = sa.select(_HS.c.section, _HS.c.agent_hash).where(
    _HS.c.host_id == sa.bindparam("host_id")
)


def _upsert_sections(dialect: str) -> sa.Insert:
    """INSERT ... ON CONFLICT (host_id, section) DO UPDATE: one statement per write."""
    insert = sqlite_insert(_HS) if dialect == "sqlite" else postgresql_insert(_HS)
    return insert.on_conflict_do_update(
        index_elements=[_HS.c.host_id, _HS.c.section],
        set_={"data": insert.excluded.data, "agent_hash": insert.excluded.agent_hash},
    )


_UPSERT_SECTIONS = {dialect: _upsert_sections(dialect) for dialect in ("sqlite", "postgresql")}
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


def stored_sections(
    conn: sa.Connection, host_ids: Sequence[int], names: Sequence[str] | None = None
) -> dict[int, dict[str, str]]:
    """Each host's stored sections (all, or those ``names``) as JSON text."""
    out: dict[int, dict[str, str]] = {host_id: {} for host_id in host_ids}
    for i in range(0, len(host_ids), _CHUNK):
        chunk = list(host_ids[i : i + _CHUNK])
        if names is None:
            found = conn.execute(_READ_SECTIONS, {"host_ids": chunk})
        else:
            found = conn.execute(_READ_SOME_SECTIONS, {"host_ids": chunk, "names": list(names)})
        for host_id, section, data in found:
            out[host_id][section] = data
    return out


# Each stored section's agent hash as "section:hash,..." in one column, read with the host.
AGENT_HASHES = (
    sa.select(sa.func.aggregate_strings(_HS.c.section + ":" + _HS.c.agent_hash, ","))
    .where(_HS.c.host_id == _H.c.id)
    .scalar_subquery()
)


def agent_hashes(
    conn: sa.Connection, host_id: int, omit: Iterable[str] = (), read: str | None = None
) -> dict[str, str]:
    """The hash the agent gave each stored section (what a delta's base is checked against);
    ``read``: AGENT_HASHES as read with the host, else read here.

    A section stored before reports carried their hashes has none ("": collectors before
    collector.agent_hash hashed a full report's sections only when a delta needed them); it
    is computed here when a delta first needs it, and kept. ``omit``: sections whose hash is
    not needed."""
    if read is not None:
        out = dict(part.partition(":")[::2] for part in read.split(",") if part)
    else:
        # .all(): dict() of the result itself would take it for a mapping (it has keys()).
        out = dict(conn.execute(_READ_HASHES, {"host_id": host_id}).all())
    skip = set(omit) | {COLLECTION}
    missing = [name for name, value in out.items() if not value and name not in skip]
    if missing:
        for name, data in stored_sections(conn, [host_id], missing)[host_id].items():
            out[name] = agent_hash(name, fastjson.loads(data))
            conn.execute(_SET_HASH, {"b_host_id": host_id, "b_section": name, "b_hash": out[name]})
    return out


def write_sections(
    conn: sa.Connection, host_id: int, sections: Mapping[str, tuple[str, str]]
) -> None:
    """Replaces the host's ``sections`` (name -> (JSON text, agent hash))."""
    if sections:
        conn.execute(upsert_sections(conn.dialect.name), section_rows(host_id, sections))


def upsert_sections(dialect: str) -> sa.Insert:
    """The statement that writes section_rows()."""
    return _UPSERT_SECTIONS[dialect]


def section_rows(host_id: int, sections: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"host_id": host_id, "section": name, "data": data, "agent_hash": h}
            for name, (data, h) in sections.items()]  # fmt: skip


def current_reports(
    conn: sa.Connection, host_ids: Sequence[int], names: Collection[str] | None = None
) -> dict[int, dict[str, Any]]:
    """Each host's current state as report data: what its reports, merged, say now (the
    collection's timings aside). Hosts without sections are left out. ``names``: only these
    sections are read (the others are null), e.g. not the software list no check reads."""
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
    wanted = None if names is None else [n for n in STATE_SECTIONS if n in names]
    for host_id, sections in stored_sections(conn, list(hosts), wanted).items():
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
            report[name] = fastjson.loads(text) if text is not None else None
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
    """The hosts columns of the derived facts, the start of the device's life included."""
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


def refresh_display_facts(
    conn: sa.Connection, host_id: int, chassis: Any, category: str | None
) -> None:
    """Whether each stored display of a host is an external monitor, again (its chassis or
    device category changed; a display's start of life does not depend on them)."""
    for display_id, internal in conn.execute(
        sa.select(_D.c.id, _D.c.internal).where(_D.c.host_id == host_id)
    ):
        external = facts.external_monitor(internal, chassis, category)
        conn.execute(sa.update(_D).where(_D.c.id == display_id).values(external=external))


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
        sections = stored_sections(conn, chunk, _FACT_SOURCES)
        parsed = {
            host_id: {name: fastjson.loads(text) for name, text in s.items()}
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
