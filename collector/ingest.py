"""Report ingestion: a decoded report (collector.report_decoding) stored in one transaction.

What a report's sections mean for storage is collector.sections' declaration; the derived
facts are collector.policy.facts'. For each section whose content changed since the host's current
state: its stored JSON (host_sections), its rows, its ``hosts`` columns, and the derived
facts that depend on it. A delta report is checked against the current state (the agent's
hashes of every section) and merged into it; it is never validated twice.

Every refusal is a :class:`BadReport` with a 4xx status and a message saying what is wrong;
nothing is written before a report has passed every check, and the store is one transaction,
so a refused or failed report leaves the stored data as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from agent.schema import SECTIONS, Report
from collector import current_state, delta, reference_cache
from collector.db import CoreWrite
from collector.models import Agent, Host, ReportRecord, Site, table_of, utcnow
from collector.policy import facts
from collector.report_decoding import BadReport, DecodedReport, change_hash
from collector.sections import COLLECTION, DECLARATIONS, HOST_COLUMNS, NORMALIZED, rows

log = logging.getLogger(__name__)


@dataclass
class StoreResult:
    status: str  # "stored" | "duplicate"
    report_id: str
    host_id: int
    changed_sections: list[str] = field(default_factory=list)


_HOSTS = table_of(Host)
_REPORTS = table_of(ReportRecord)
_AGENTS = table_of(Agent)
_SITES = table_of(Site)


@dataclass(frozen=True)
class AgentIdentity:
    id: str
    machine_id: str
    site_id: int
    org_id: int


# The hot path's statements, built once: building a statement per request costs more than
# SQLite takes to run it. Executions then hit SQLAlchemy's compiled-statement cache.
_FIND_AGENT = (
    sa.select(_AGENTS.c.id, _AGENTS.c.machine_id, _AGENTS.c.site_id, _SITES.c.org_id)
    .join(_SITES, _SITES.c.id == _AGENTS.c.site_id)
    .where(_AGENTS.c.token_hash == sa.bindparam("token_hash"), _AGENTS.c.revoked == sa.false())
)
_FIND_REPORT = sa.select(_REPORTS.c.host_id).where(
    _REPORTS.c.report_id == sa.bindparam("report_id")
)
# The derived facts stored with the host (collector.policy.facts), its start of life included.
FACT_COLUMNS = (*facts.HOST_FACT_COLUMNS, "start_date", "start_source")
_FIND_HOST = sa.select(
    _HOSTS.c.id,
    _HOSTS.c.last_collected_at,
    _HOSTS.c.section_hashes,
    _HOSTS.c.last_report_id,
    *(_HOSTS.c[c] for c in HOST_COLUMNS),
    *(_HOSTS.c[c] for c in FACT_COLUMNS),
    # The host the report is stored under already (a resend): one query where two were.
    _FIND_REPORT.scalar_subquery().label("report_host_id"),
    # Whether the sending agent was revoked since its token was checked (or cached).
    sa.select(_AGENTS.c.revoked)
    .where(_AGENTS.c.id == sa.bindparam("agent_id"))
    .scalar_subquery()
    .label("agent_revoked"),
).where(
    _HOSTS.c.org_id == sa.bindparam("org_id"), _HOSTS.c.machine_id == sa.bindparam("machine_id")
)
_AGENT_REVOKED = sa.select(_AGENTS.c.revoked).where(_AGENTS.c.id == sa.bindparam("agent_id"))
_INSERT_REPORT = sa.insert(_REPORTS)


def _bind(column: str) -> sa.BindParameter[Any]:
    """A bind parameter carrying its column's type (UTC timestamps, JSON)."""
    return sa.bindparam(f"b_{column}", type_=_HOSTS.c[column].type)


# Every column a report sets, always all of them: one statement shape, compiled once. Not
# the site: a host never changes its site through a report (moving it is an admin's action).
_UPDATE_HOST_LATEST = (
    sa.update(_HOSTS)
    .where(_HOSTS.c.id == sa.bindparam("b_host_id"))
    .values(
        {
            column: _bind(column)
            for column in (
                *HOST_COLUMNS,
                *FACT_COLUMNS,
                "last_seen",
                "section_hashes",
                "last_collected_at",
                "last_report_id",
            )
        }
        # An import carries no agent: the host keeps the agent it has (and its version).
        | {
            "agent_id": sa.func.coalesce(_bind("agent_id"), _HOSTS.c.agent_id),
            "agent_version": sa.func.coalesce(_bind("agent_version"), _HOSTS.c.agent_version),
        }
    )
)
# A normalized section's rows are replaced whole: delete the host's, insert the new ones.
_ROW_STATEMENTS: dict[str, tuple[sa.Delete, sa.Insert]] = {
    name: (
        sa.delete(SQLModel.metadata.tables[name]).where(
            SQLModel.metadata.tables[name].c.host_id == sa.bindparam("b_host_id")
        ),
        sa.insert(SQLModel.metadata.tables[name]),
    )
    for name in (DECLARATIONS[s].table for s in NORMALIZED)
    if name is not None
}
# The first detection is kept; the description says what the latest report changed.
_FLAG_IDENTITY = (
    sa.update(_HOSTS)
    .where(_HOSTS.c.id == sa.bindparam("b_host_id"))
    .values(
        identity_changed_at=sa.func.coalesce(
            _HOSTS.c.identity_changed_at,
            sa.bindparam("b_now", type_=_HOSTS.c.identity_changed_at.type),
        ),
        identity_change=sa.bindparam("b_change"),
    )
)
_UPDATE_HOST_SEEN = (
    sa.update(_HOSTS)
    .where(_HOSTS.c.id == sa.bindparam("b_host_id"))
    .values(last_seen=_bind("last_seen"))
)


def _check_identity(
    conn: sa.Connection, host_id: int, stored: str | None, reported: object, now: Any
) -> None:
    """Flags the host when a report's hardware serial differs from the stored one: the
    report is stored, and the finding sec.agent.identity-changed makes a cloned machine id
    (or a replaced mainboard) visible. An unknown serial on either side proves nothing."""
    if not stored or not isinstance(reported, str) or not reported or reported == stored:
        return
    change = f"serial {stored[:280]} -> {reported[:280]}"
    conn.execute(_FLAG_IDENTITY, {"b_host_id": host_id, "b_now": now, "b_change": change})
    log.warning("host %s: hardware identity changed (%s)", host_id, change)


def find_agent(conn: sa.Connection, token_hash: str) -> AgentIdentity | None:
    """The enrolled, not revoked agent with this token hash, with its site's organization."""
    row = conn.execute(_FIND_AGENT, {"token_hash": token_hash}).first()
    if row is None:
        return None
    return AgentIdentity(row.id, row.machine_id, row.site_id, row.org_id)


def store_report(
    session: Session,
    report: Report,
    raw: str,
    *,
    site: Site,
    agent: Agent | None = None,
    source: str = "agent",
) -> StoreResult:
    """Stores one validated report in one transaction; a known report_id stores nothing."""
    assert site.id is not None
    return store(session, report, raw, site_id=site.id, org_id=site.org_id,
                 agent_id=agent.id if agent else None, source=source)  # fmt: skip


def store(
    session: Session,
    report: Report,
    raw: str,
    *,
    site_id: int,
    org_id: int,
    agent_id: str | None,
    source: str = "agent",
) -> StoreResult:
    """Stores a validated report (see store_decoded)."""
    decoded = DecodedReport.of(report, raw)
    return store_decoded(session, decoded, site_id=site_id, org_id=org_id, agent_id=agent_id,
                         source=source)  # fmt: skip


def store_decoded(
    session: Session | CoreWrite,
    decoded: DecodedReport,
    *,
    site_id: int,
    org_id: int,
    agent_id: str | None,
    source: str = "agent",
) -> StoreResult:
    """The ingest hot path, in SQLAlchemy Core: a handful of statements, one transaction
    (``session``'s: a Session, or Database.core_write()'s where nothing else needs one)."""
    conn = session.connection()
    report_id = decoded.report_id
    host = conn.execute(
        _FIND_HOST,
        {"org_id": org_id, "machine_id": decoded.machine_id, "report_id": report_id,
         "agent_id": agent_id},
    ).first()  # fmt: skip
    now = utcnow()
    # Revoked since the request was authenticated (or since the token was cached)? Checked
    # inside the transaction, before anything else, resends included. (The agent's last
    # contact is its host's last_seen: no write to the agents table per report.)
    if agent_id is not None:
        if host is not None:
            revoked = host.agent_revoked
        else:
            revoked = conn.execute(_AGENT_REVOKED, {"agent_id": agent_id}).scalar()
        if revoked is None or revoked:
            raise BadReport(401, "agent token was revoked")
    if host is not None:
        existing = host.report_host_id
    else:
        existing = conn.execute(_FIND_REPORT, {"report_id": report_id}).scalar()
    if existing is not None:
        if host is None or existing != host.id:
            raise BadReport(409, "report_id is already used by a report of another host")
        return StoreResult("duplicate", report_id, existing)
    if decoded.is_delta:  # checked against the current state, or 409 need_full
        if host is None:
            raise delta.NeedFull(
                f"no base report for this host (the agent's base is "
                f"{decoded.delta_base or 'none'}); send a full report"
            )
        stored = current_state.agent_hashes(conn, host.id, omit=decoded.sections)
        delta.check_base(decoded, stored, host.last_report_id)
    collected_at = decoded.collected_at
    if host is None:
        host_id = conn.execute(
            sa.insert(_HOSTS)
            .values(org_id=org_id, site_id=site_id, machine_id=decoded.machine_id, first_seen=now,
                    last_seen=now, section_hashes={})
            .returning(_HOSTS.c.id)
        ).scalar_one()  # fmt: skip
        last_collected, old_hashes = None, {}
    else:
        host_id, last_collected, old_hashes = host.id, host.last_collected_at, host.section_hashes
    # An older report (sent late from the agent's spool) goes into the history only.
    is_latest = last_collected is None or collected_at >= last_collected
    changed: list[str] = []
    if is_latest:
        if host is not None:
            _check_identity(conn, host_id, host.serial, decoded.host_columns.get("serial"), now)
        old = old_hashes or {}
        hashes = {**old, **decoded.section_hashes}
        hashes[COLLECTION] = change_hash(decoded.collection)
        changed = [s for s in SECTIONS if s in decoded.sections and old.get(s) != hashes[s]]
        columns = {column: getattr(host, column) for column in HOST_COLUMNS} if host else {}
        columns.update(decoded.host_columns)
        update = _Update(conn, host_id, org_id, decoded, changed, columns)
        derived = _derived_facts(
            update, {c: getattr(host, c) for c in FACT_COLUMNS} if host else {}
        )
        _write_sections(update, collection=old.get(COLLECTION) != hashes[COLLECTION])
        _write_rows(update, derived)
        if (
            "host" in changed
            and "displays" not in changed
            and host is not None
            and (
                host.chassis != columns.get("chassis")
                or host.device_category != derived.get("device_category")
            )
        ):
            # What the stored displays are (external or not) depends on the chassis.
            current_state.refresh_display_facts(
                conn, host_id, columns.get("chassis"), derived.get("device_category")
            )
        values = {f"b_{column}": columns.get(column) for column in HOST_COLUMNS}
        values.update({f"b_{column}": derived.get(column) for column in FACT_COLUMNS})
        values.update(
            b_host_id=host_id,
            b_last_seen=now,
            b_section_hashes=hashes,
            b_last_collected_at=collected_at,
            b_last_report_id=report_id,
            b_agent_id=agent_id,
            b_agent_version=decoded.agent_version,
        )
        conn.execute(_UPDATE_HOST_LATEST, values)
    else:
        conn.execute(_UPDATE_HOST_SEEN, {"b_host_id": host_id, "b_last_seen": now})
    raw = _history_text(conn, host_id, decoded)
    conn.execute(
        _INSERT_REPORT,
        {
            "report_id": report_id,
            "host_id": host_id,
            "agent_id": agent_id,
            "schema_version": decoded.schema_version,
            "collected_at": collected_at,
            "received_at": now,
            "source": source,
            "size_bytes": len(raw) if raw.isascii() else len(raw.encode("utf-8")),
            "changed_sections": changed,
            "raw": raw,
        },
    )
    try:
        session.commit()
    except IntegrityError:
        # Another request stored the same report_id (or created the host) meanwhile.
        session.rollback()
        again = (
            session.connection()
            .execute(sa.select(_REPORTS.c.host_id).where(_REPORTS.c.report_id == report_id))
            .scalar()
        )
        if again is not None:
            return StoreResult("duplicate", report_id, again)
        raise
    return StoreResult("stored", report_id, host_id, changed)


@dataclass(frozen=True)
class _Update:
    """A report's change to its host's current state: the ``changed`` sections, and the
    ``hosts`` columns after it."""

    conn: sa.Connection
    host_id: int
    org_id: int
    decoded: DecodedReport
    changed: list[str]
    columns: dict[str, Any]


def _derived_facts(update: _Update, stored: dict[str, Any]) -> dict[str, Any]:
    """The host's derived facts after this report: the stored ones, with those of the changed
    sections replaced (as the decode worker computed them, where it used the reference data
    in use here; else computed now), and the start of life again when ``host`` changed."""
    out = dict(stored)
    decoded = update.decoded
    touched = [s for s in facts.FACTS_OF_SECTION if s in update.changed]
    if not touched:
        return out
    basis = reference_cache.basis()
    for section in touched:
        if decoded.facts_digest and decoded.facts_digest == basis.digest:
            out.update({c: decoded.facts.get(c) for c in facts.FACTS_OF_SECTION[section]})
        else:
            data = decoded.section_data(section)
            out.update(facts.section_facts(section, data, basis.reference))
    if "host" in touched:
        serial = update.columns.get("serial")
        purchase = (
            current_state.purchase_dates(update.conn, update.org_id, [serial]).get(serial)
            if serial
            else None
        )
        out["start_date"], out["start_source"] = facts.host_start(purchase, out["bios_date"])
    return out


def _write_sections(update: _Update, *, collection: bool) -> None:
    """Stores the changed sections' JSON with their agent hashes (and the collection's errors
    when they changed)."""
    decoded = update.decoded
    sections = {name: (decoded.sections[name].decode("utf-8"), decoded.agent_hashes.get(name, ""))
                for name in update.changed}  # fmt: skip
    if collection:
        sections[COLLECTION] = (decoded.collection.decode("utf-8"), "")
    current_state.write_sections(update.conn, update.host_id, sections)


def _write_rows(update: _Update, derived: dict[str, Any]) -> None:
    """Replaces the rows of the changed normalized sections."""
    conn, host_id = update.conn, update.host_id
    for section in NORMALIZED:
        if section not in update.changed:
            continue
        table = DECLARATIONS[section].table
        assert table is not None
        delete_rows, insert_rows = _ROW_STATEMENTS[table]
        conn.execute(delete_rows, {"b_host_id": host_id})
        data = update.decoded.section_data(section)
        if section == "displays":
            serials = [d.get("serial") for d in data or [] if isinstance(d, dict)]
            new_rows = current_state.display_rows(
                host_id,
                data,
                chassis=update.columns.get("chassis"),
                category=derived.get("device_category"),
                purchases=current_state.purchase_dates(conn, update.org_id, serials),
            )
        else:
            new_rows = [{"host_id": host_id, **row} for row in rows(section, data)]
        if new_rows:
            conn.execute(insert_rows, new_rows)


def _history_text(conn: sa.Connection, host_id: int, decoded: DecodedReport) -> str:
    """The report as the history keeps it: as received; a delta merged into the full report
    it stands for."""
    if not decoded.is_delta:
        return decoded.raw
    stored = current_state.stored_sections(conn, [host_id])[host_id]
    return delta.merged_text(decoded, stored)
