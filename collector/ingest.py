"""Report ingestion: a decoded report (collector.report_decoding) stored in one transaction.

What a report's sections mean for storage is collector.sections' declaration; the derived
facts are collector.policy.facts'. For each section whose content changed since the host's current
state: its stored JSON (host_sections), its rows, its ``hosts`` columns, and the derived
facts that depend on it. A delta report is checked against the current state (the agent's
hashes of every section) and merged into it; it is never validated twice. A section whose
stable content changed (collector.sections: not only volatile fields) also goes into the
history with the readable changes (collector.history, collector.changes); every report gets
a receipt, which makes a resend a duplicate.

Every refusal is a :class:`BadReport` with a 4xx status and a message saying what is wrong;
nothing is written before a report has passed every check, and the store is one transaction,
so a refused or failed report leaves the stored data as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from agent.schema import SECTIONS, Report
from collector import bulk, current_state, delta, fastjson, history, reference_cache
from collector.changes import Change, differing_items, section_changes
from collector.db import CoreWrite
from collector.models import Agent, Host, HostEvaluation, ReportReceipt, Site, table_of, utcnow
from collector.policy import facts
from collector.report_decoding import BadReport, DecodedReport, change_hash
from collector.sections import (
    COLLECTION,
    DECLARATIONS,
    HOST_COLUMNS,
    NORMALIZED,
    FieldPath,
    row_items,
    rows_of_items,
)

log = logging.getLogger(__name__)


@dataclass
class StoreResult:
    status: str  # "stored" | "duplicate"
    report_id: str
    host_id: int
    changed_sections: list[str] = field(default_factory=list)


_HOSTS = table_of(Host)
_RECEIPTS = table_of(ReportReceipt)
_AGENTS = table_of(Agent)
_SITES = table_of(Site)
_EVALUATIONS = table_of(HostEvaluation)


@dataclass
class Writes:
    """The writes every stored report makes — its changed sections, its host row, its
    receipt — gathered so that those of several reports go to the database as one statement
    each (collector.group_commit), executed by :meth:`flush` before the commit. A host's
    reports must then be in different batches (a later one would not see the writes)."""

    statements: dict[sa.Executable, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, statement: sa.Executable, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.statements.setdefault(statement, []).extend(rows)

    def flush(self, conn: sa.Connection) -> None:
        # Deletes first: a row a report replaces is gone before any new row is inserted,
        # whichever report of the batch added its statement first.
        items = self.statements.items()
        ordered = sorted(items, key=lambda item: not isinstance(item[0], sa.Delete))
        for statement, params in ordered:
            bulk.executemany(conn, statement, params)
        self.statements.clear()


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
# A receipt of the report for the host: a resend (report ids are the agent's, per host).
_RESENT = sa.exists().where(
    _RECEIPTS.c.host_id == _HOSTS.c.id, _RECEIPTS.c.report_id == sa.bindparam("report_id")
)
# The derived facts stored with the host (collector.policy.facts), its start of life included.
FACT_COLUMNS = (*facts.HOST_FACT_COLUMNS, "start_date", "start_source")
_FIND_HOST = sa.select(
    _HOSTS.c.id,
    _HOSTS.c.last_collected_at,
    _HOSTS.c.section_hashes,
    _HOSTS.c.stable_hashes,
    _HOSTS.c.snapshot_at,
    _HOSTS.c.last_report_id,
    *(_HOSTS.c[c] for c in HOST_COLUMNS),
    *(_HOSTS.c[c] for c in FACT_COLUMNS),
    # Whether the report is stored already (a resend): one query where two were.
    _RESENT.label("resent"),
    # Whether the sending agent was revoked since its token was checked (or cached).
    sa.select(_AGENTS.c.revoked)
    .where(_AGENTS.c.id == sa.bindparam("agent_id"))
    .scalar_subquery()
    .label("agent_revoked"),
).where(
    _HOSTS.c.org_id == sa.bindparam("org_id"), _HOSTS.c.machine_id == sa.bindparam("machine_id")
)
# A delta is checked against the stored sections' agent hashes: read with the host.
_FIND_HOST_FOR_DELTA = _FIND_HOST.add_columns(current_state.AGENT_HASHES.label("agent_hashes"))
_INSERT_HOST = (
    sa.insert(_HOSTS)
    .values(
        {
            column: sa.bindparam(f"b_{column}", type_=_HOSTS.c[column].type)
            for column in ("org_id", "site_id", "machine_id", "first_seen", "last_seen",
                           "section_hashes", "stable_hashes")
        }
    )
    .returning(_HOSTS.c.id)
)  # fmt: skip
_AGENT_REVOKED = sa.select(_AGENTS.c.revoked).where(_AGENTS.c.id == sa.bindparam("agent_id"))


# The same for all hosts of a group commit's batch at once (Lookup): one round trip where
# there was one per report. Whether a host has a receipt of any of the batch's report ids is
# only a hint; a host with one is asked again about its own report (_RESENT_EXACT).
def _among(column: sa.Column[Any], name: str, item: sa.types.TypeEngine[Any] | None) -> Any:
    """``column IN (the list in parameter name)``: on PostgreSQL (``item``: the list's type)
    as ``= ANY(array)``, one parameter, so that the statement is compiled once; an expanding
    IN is rendered again for every length of the list (a third of reading a batch)."""
    if item is None:
        return column.in_(sa.bindparam(name, expanding=True))
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(item)))


def _batch_hosts(find_host: sa.Select[Any], *, postgres: bool) -> sa.Select[Any]:
    per_report = ("resent", "agent_revoked")
    return sa.select(
        _HOSTS.c.org_id,
        _HOSTS.c.machine_id,
        *(c for c in find_host.selected_columns if c.name not in per_report),
        sa.exists()
        .where(
            _RECEIPTS.c.host_id == _HOSTS.c.id,
            _among(_RECEIPTS.c.report_id, "report_ids",
                   postgresql.UUID(as_uuid=False) if postgres else None),
        )
        .label("maybe_resent"),
    ).where(
        _among(_HOSTS.c.org_id, "org_ids", sa.Integer() if postgres else None),
        _among(_HOSTS.c.machine_id, "machine_ids", sa.String() if postgres else None),
    )  # fmt: skip


# By dialect (PostgreSQL or not), then whether the batch has a delta: the agents' hashes of
# the stored sections (an aggregate per host) are read only for deltas.
_BATCH_HOSTS = {
    postgres: {
        False: _batch_hosts(_FIND_HOST, postgres=postgres),
        True: _batch_hosts(_FIND_HOST_FOR_DELTA, postgres=postgres),
    }
    for postgres in (False, True)
}
_BATCH_AGENTS = {
    postgres: sa.select(_AGENTS.c.id, _AGENTS.c.revoked).where(
        _among(_AGENTS.c.id, "agent_ids", sa.String() if postgres else None)
    )
    for postgres in (False, True)
}
_RESENT_EXACT = sa.select(
    sa.exists().where(
        _RECEIPTS.c.host_id == sa.bindparam("host_id"),
        _RECEIPTS.c.report_id == sa.bindparam("report_id", type_=_RECEIPTS.c.report_id.type),
    )
)


@dataclass(frozen=True)
class Lookup:
    """What storing each report of a batch reads first (its host, whether it was received
    already, whether its agent was revoked), read for the whole batch in two statements."""

    hosts: dict[tuple[int, str], Any]  # (org id, machine id) -> the host as _FIND_HOST reads it
    revoked: dict[str, bool]  # agent id -> revoked (an agent not in it: gone)

    @classmethod
    def read(
        cls, conn: sa.Connection, reports: list[tuple[int, str | None, DecodedReport]]
    ) -> Lookup:
        """``reports``: each one's organization id, agent id and the report (one per host)."""
        deltas = any(d.is_delta for _, _, d in reports)
        postgres = conn.dialect.name == "postgresql"
        found = conn.execute(
            _BATCH_HOSTS[postgres][deltas],
            {"org_ids": sorted({org for org, _, _ in reports}),
             "machine_ids": [d.machine_id for _, _, d in reports],
             "report_ids": [d.report_id for _, _, d in reports]},
        )  # fmt: skip
        hosts = {(row.org_id, row.machine_id): row for row in found}
        agents = sorted({agent for _, agent, _ in reports if agent is not None})
        revoked = (
            dict(conn.execute(_BATCH_AGENTS[postgres], {"agent_ids": agents}).all())
            if agents
            else {}
        )
        return cls(hosts, revoked)

    def host(
        self, conn: sa.Connection, org_id: int, agent_id: str | None, decoded: DecodedReport
    ) -> Any:
        """The report's host as _FIND_HOST(_FOR_DELTA) would have read it (None: a new host)."""
        row = self.hosts.get((org_id, decoded.machine_id))
        if row is None:
            return None
        resent = bool(row.maybe_resent) and bool(
            conn.execute(
                _RESENT_EXACT, {"host_id": row.id, "report_id": decoded.report_id}
            ).scalar()
        )
        return SimpleNamespace(
            **row._mapping,
            resent=resent,
            agent_revoked=self.revoked.get(agent_id) if agent_id is not None else None,
        )


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
                "stable_hashes",
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
# A normalized section's rows are updated by difference: the host's rows are read, those
# that differ deleted by id, the new ones inserted (300 packages rewritten for one update
# cost PostgreSQL 7-8 ms; the one that differs, ~1 ms).
_ROW_TABLES = {s: SQLModel.metadata.tables[DECLARATIONS[s].table or ""] for s in NORMALIZED}
# Columns of a row table that no section row carries (ids, derived facts).
_ROW_EXTRA = frozenset({"id", "host_id", "external", "start_date", "start_source"})
_ROW_KEYS = {s: [c.name for c in t.c if c.name not in _ROW_EXTRA] for s, t in _ROW_TABLES.items()}
_ROW_STATEMENTS: dict[str, tuple[sa.Select[Any], sa.Delete, sa.Insert]] = {
    name: (
        sa.select(table.c.id, *(table.c[k] for k in _ROW_KEYS[name])).where(
            table.c.host_id == sa.bindparam("b_host_id"),
            sa.or_(
                table.c[_ROW_KEYS[name][0]].in_(sa.bindparam("b_firsts", expanding=True)),
                table.c[_ROW_KEYS[name][0]].is_(None),
            ),
        ),
        # by id, one row per parameter set: with the batch's other writes (Writes)
        sa.delete(table).where(table.c.id == sa.bindparam("b_id")),
        sa.insert(table),
    )
    for name, table in _ROW_TABLES.items()
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
# A full inventory that differs from the state is kept whole at most this often (the rebuild
# of a past state needs no snapshot: every history row holds its sections before and after).
SNAPSHOT_EVERY = dt.timedelta(days=1)
_SET_SNAPSHOT = (
    sa.update(_HOSTS)
    .where(_HOSTS.c.id == sa.bindparam("b_host_id"))
    .values(snapshot_at=_bind("snapshot_at"))
)
# A report that changed no section (most status reports): what every report sets, only.
_UPDATE_HOST_REPORTED = (
    sa.update(_HOSTS)
    .where(_HOSTS.c.id == sa.bindparam("b_host_id"))
    .values(
        {
            column: _bind(column)
            for column in ("last_seen", "section_hashes", "last_collected_at", "last_report_id")
        }
        | {
            "agent_id": sa.func.coalesce(_bind("agent_id"), _HOSTS.c.agent_id),
            "agent_version": sa.func.coalesce(_bind("agent_version"), _HOSTS.c.agent_version),
        }
    )
)
# A report that changed no section (a wired PC's status report, most of a day) cannot change
# its host's findings on a day they were evaluated: the checks read the sections, the host's
# stored facts and the date (derived facts count days in UTC: collector.policy.derive), and
# what changes otherwise (vulnerability matches, waivers, packs) queues the host itself. Such
# a report counts as evaluated where the one before it was, that UTC day, and no claim
# holds the host: the evaluator (findings ~2 ms a host, and its reads) is spared.
_CARRY_EVALUATION = (
    sa.update(_EVALUATIONS)
    .where(
        _EVALUATIONS.c.host_id == sa.bindparam("b_host_id"),
        _EVALUATIONS.c.evaluated_report_id == sa.bindparam("b_previous"),
        _EVALUATIONS.c.lease_until.is_(None),
        _EVALUATIONS.c.evaluated_at
        >= sa.bindparam("b_day_start", type_=_EVALUATIONS.c.evaluated_at.type),
    )
    .values(evaluated_report_id=sa.bindparam("b_report_id"))
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


def check_machine(agent: AgentIdentity, decoded: DecodedReport) -> None:
    """An agent reports the machine it was enrolled on, no other."""
    if decoded.machine_id != agent.machine_id:
        raise BadReport(403, "this agent may only report the machine it was enrolled on")


def find_agent(conn: sa.Connection, token_hash: str) -> AgentIdentity | None:
    """The enrolled, not revoked agent with this token hash, with its site's organization."""
    row = conn.execute(_FIND_AGENT, {"token_hash": token_hash}).first()
    if row is None:
        return None
    return AgentIdentity(row.id, row.machine_id, row.site_id, row.org_id)


def store_report(
    session: Session,
    report: Report,
    *,
    site: Site,
    agent: Agent | None = None,
    source: str = "agent",
) -> StoreResult:
    """Stores one validated report in one transaction; a known report_id stores nothing."""
    assert site.id is not None
    return store(session, report, site_id=site.id, org_id=site.org_id,
                 agent_id=agent.id if agent else None, source=source)  # fmt: skip


def store(
    session: Session,
    report: Report,
    *,
    site_id: int,
    org_id: int,
    agent_id: str | None,
    source: str = "agent",
) -> StoreResult:
    """Stores a validated report (see store_decoded)."""
    decoded = DecodedReport.of(report)
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
    commit: bool = True,
    writes: Writes | None = None,
    lookup: Lookup | None = None,
) -> StoreResult:
    """The ingest hot path, in SQLAlchemy Core: a handful of statements, one transaction
    (``session``'s: a Session, or Database.core_write()'s where nothing else needs one).
    ``commit=False``: the caller flushes ``writes`` and commits (collector.group_commit stores
    several reports per transaction); a database error then propagates. ``lookup``: the
    batch's hosts, read before (Lookup.read) in the same transaction."""
    conn = session.connection()
    batched = writes is not None
    writes = writes if writes is not None else Writes()
    report_id = decoded.report_id
    host: Any
    if lookup is not None:
        host = lookup.host(conn, org_id, agent_id, decoded)
    else:
        host = conn.execute(
            _FIND_HOST_FOR_DELTA if decoded.is_delta else _FIND_HOST,
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
    if host is not None and host.resent:
        return StoreResult("duplicate", report_id, host.id)
    if decoded.is_delta:  # checked against the current state, or 409 need_full
        if host is None:
            raise delta.NeedFull(
                f"no base report for this host (the agent's base is "
                f"{decoded.delta_base or 'none'}); send a full report"
            )
        stored = current_state.agent_hashes(
            conn, host.id, omit=decoded.sections, read=host.agent_hashes or ""
        )
        delta.check_base(decoded, stored, host.last_report_id)
    collected_at = decoded.collected_at
    if host is None:
        host_id = conn.execute(
            _INSERT_HOST,
            {"b_org_id": org_id, "b_site_id": site_id, "b_machine_id": decoded.machine_id,
             "b_first_seen": now, "b_last_seen": now, "b_section_hashes": {},
             "b_stable_hashes": {}},
        ).scalar_one()  # fmt: skip
        last_collected = None
        old_hashes: dict[str, str] = {}
        old_stable: dict[str, str] = {}
    else:
        host_id, last_collected = host.id, host.last_collected_at
        old_hashes, old_stable = host.section_hashes or {}, host.stable_hashes or {}
    received = history.Received(host_id, report_id, collected_at, now, source)
    # An older report (sent late from the agent's spool) changes nothing: the state is newer.
    is_latest = last_collected is None or collected_at >= last_collected
    changed: list[str] = []
    if is_latest:
        if host is not None:
            _check_identity(conn, host_id, host.serial, decoded.host_columns.get("serial"), now)
        hashes = {**old_hashes, **decoded.section_hashes}
        hashes[COLLECTION] = change_hash(decoded.collection)
        changed = [s for s in SECTIONS if s in decoded.sections and old_hashes.get(s) != hashes[s]]
        stable_hashes = {**old_stable, **decoded.stable_hashes}
        lasting = [s for s in changed if old_stable.get(s) != stable_hashes[s]]
        # The sections as they were, read before they are replaced: what the history keeps,
        # and what the rows of a normalized section are updated from.
        wanted = [s for s in changed if s in lasting or s in NORMALIZED]
        old = current_state.stored_sections(conn, [host_id], wanted)[host_id] if (
            host is not None and wanted) else {}  # fmt: skip
        before = {s: old[s] for s in lasting if s in old}
        columns = {column: getattr(host, column) for column in HOST_COLUMNS} if host else {}
        columns.update(decoded.host_columns)
        update = _Update(conn, host_id, org_id, decoded, changed, columns, old, writes)
        derived = _derived_facts(
            update, {c: getattr(host, c) for c in FACT_COLUMNS} if host else {}
        )
        _write_sections(update, collection=old_hashes.get(COLLECTION) != hashes[COLLECTION])
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
        values = {
            "b_host_id": host_id,
            "b_last_seen": now,
            "b_section_hashes": hashes,
            "b_last_collected_at": collected_at,
            "b_last_report_id": report_id,
            "b_agent_id": agent_id,
            "b_agent_version": decoded.agent_version,
        }
        if changed or host is None:
            values.update({f"b_{column}": columns.get(column) for column in HOST_COLUMNS})
            values.update({f"b_{column}": derived.get(column) for column in FACT_COLUMNS})
            values["b_stable_hashes"] = stable_hashes
            writes.add(_UPDATE_HOST_LATEST, [values])
        else:
            writes.add(_UPDATE_HOST_REPORTED, [values])
            if old_hashes.get(COLLECTION) == hashes[COLLECTION] and host.last_report_id:
                day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
                writes.add(_CARRY_EVALUATION, [{"b_host_id": host_id, "b_report_id": report_id,
                                                "b_previous": host.last_report_id,
                                                "b_day_start": day_start}])  # fmt: skip
        if lasting:
            snapshot = host is None or (
                not decoded.is_delta
                and (host.snapshot_at is None or now - host.snapshot_at >= SNAPSHOT_EVERY)
            )
            _write_history(update, received, lasting, before, first=host is None,
                           snapshot=snapshot)  # fmt: skip
            if snapshot:
                writes.add(_SET_SNAPSHOT, [{"b_host_id": host_id, "b_snapshot_at": now}])
    else:
        writes.add(_UPDATE_HOST_SEEN, [{"b_host_id": host_id, "b_last_seen": now}])
    writes.add(history.INSERT_RECEIPT, [history.receipt(received)])
    if batched or not commit:
        if not batched:
            writes.flush(conn)
        return StoreResult("stored", report_id, host_id, changed)
    try:
        writes.flush(conn)
        session.commit()
    except IntegrityError:
        # Another request stored the same report (or created the host) meanwhile.
        session.rollback()
        again = (
            session.connection()
            .execute(
                sa.select(_HOSTS.c.id)
                .where(_HOSTS.c.org_id == org_id, _HOSTS.c.machine_id == decoded.machine_id,
                       _RESENT)
            , {"report_id": report_id})
            .scalar()
        )  # fmt: skip
        if again is not None:
            return StoreResult("duplicate", report_id, again)
        raise
    return StoreResult("stored", report_id, host_id, changed)


def _write_history(
    update: _Update,
    received: history.Received,
    lasting: list[str],
    before: dict[str, str],
    *,
    first: bool,
    snapshot: bool,
) -> None:
    """The history row of a report that changed the stable content of ``lasting`` sections,
    with its readable changes: every section (a snapshot: a host's first report, and a full
    inventory at most once per SNAPSHOT_EVERY), else the changed ones."""
    decoded = update.decoded
    if first:
        changes = [Change("host", "added", None, None, None, "first report")]
    else:
        changes = [
            change
            for section in lasting
            for change in section_changes(
                section, update.before(section), update.after(section), update.known(section)
            )
        ]
    after = decoded.sections if snapshot else {s: decoded.sections[s] for s in lasting}
    history.write_change(update.writes.add, received, changed=lasting, after=after,
                         before=before, changes=changes)  # fmt: skip


@dataclass
class _Update:
    """A report's change to its host's current state: the ``changed`` sections, and the
    ``hosts`` columns after it; each section's data before and after, parsed once."""

    conn: sa.Connection
    host_id: int
    org_id: int
    decoded: DecodedReport
    changed: list[str]
    columns: dict[str, Any]
    old: dict[str, str]  # the changed sections as stored before (JSON text)
    writes: Writes
    _parsed: dict[tuple[bool, str], Any] = field(default_factory=dict)
    _differing: dict[str, tuple[list[Any], list[Any]]] = field(default_factory=dict)

    def after(self, section: str) -> Any:
        """A carried section's data (JSON) as the report has it."""
        if (True, section) not in self._parsed:
            self._parsed[True, section] = self.decoded.section_data(section)
        return self._parsed[True, section]

    def differing(self, section: str) -> tuple[list[Any], list[Any]]:
        """A normalized section's row items that went and came (changes.differing_items),
        compared once for its rows and its change log."""
        if section not in self._differing:
            self._differing[section] = differing_items(
                row_items(section, self.before(section)), row_items(section, self.after(section))
            )
        return self._differing[section]

    def known(self, section: str) -> dict[FieldPath, tuple[list[Any], list[Any]]]:
        """What section_changes may take from differing(): the row items' list, where the
        change log compares it as it is (no volatile field inside its items)."""
        items = DECLARATIONS[section].items
        if section not in self._differing or any(
            path[: len(items)] == items for path in DECLARATIONS[section].volatile
        ):
            return {}
        return {items: self._differing[section]}

    def before(self, section: str) -> Any:
        """A changed section's data as stored before the report (None: none stored)."""
        if (False, section) not in self._parsed:
            text = self.old.get(section)
            self._parsed[False, section] = None if text is None else fastjson.loads(text)
        return self._parsed[False, section]


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
            out.update(facts.section_facts(section, update.after(section), basis.reference))
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
    update.writes.add(
        current_state.upsert_sections(update.conn.dialect.name),
        current_state.section_rows(update.host_id, sections),
    )


def _write_rows(update: _Update, derived: dict[str, Any]) -> None:
    """Updates the rows of the changed normalized sections by difference: the items the
    section had before (its stored JSON) and has now are compared; for each row value that
    now occurs less often, that many stored rows are deleted, for each that occurs more
    often, that many inserted (in the report's order)."""
    conn, host_id = update.conn, update.host_id
    for section in NORMALIZED:
        if section not in update.changed:
            continue
        read_rows, delete_rows, insert_rows = _ROW_STATEMENTS[section]
        keys = _ROW_KEYS[section]
        old_items, new_items = update.differing(section)
        surplus: dict[tuple[Any, ...], int] = {}  # row value -> stored rows too many
        for row in rows_of_items(section, old_items):
            key = _hashable([row[k] for k in keys])
            surplus[key] = surplus.get(key, 0) + 1
        if surplus:
            missing = []
            for row in rows_of_items(section, new_items):
                key = _hashable([row[k] for k in keys])
                if surplus.get(key, 0) > 0:
                    surplus[key] -= 1  # the same row, for another item: it stays
                else:
                    missing.append(row)
        else:  # nothing goes (a host's first report, mostly): every new item is a row
            missing = rows_of_items(section, new_items)
        extra = {key: n for key, n in surplus.items() if n > 0}
        if extra:
            gone = []
            firsts = list({key[0] for key in extra})
            found = conn.execute(read_rows, {"b_host_id": host_id, "b_firsts": firsts})
            for row_id, *values in found:
                key = _hashable(values)
                if extra.get(key, 0) > 0:
                    extra[key] -= 1
                    gone.append(row_id)
            if gone:
                # With the batch's other writes: one round trip less per changed section.
                update.writes.add(delete_rows, [{"b_id": row_id} for row_id in gone])
        if not missing:
            continue
        if section == "displays":
            serials = [d.get("serial") for d in missing]
            new_rows = current_state.display_rows(
                host_id,
                missing,
                chassis=update.columns.get("chassis"),
                category=derived.get("device_category"),
                purchases=current_state.purchase_dates(conn, update.org_id, serials),
            )
        else:
            new_rows = [{"host_id": host_id, **row} for row in missing]
        # With the batch's other writes: one executemany per table (collector.bulk).
        update.writes.add(insert_rows, new_rows)


def _hashable(values: Any) -> tuple[Any, ...]:
    """A row's values as a dictionary key (a list of addresses as a tuple)."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)
