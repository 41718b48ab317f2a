"""Report ingestion: a decoded report (collector.report_decoding) stored in one transaction.

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
from collector.db import CoreWrite
from collector.models import (
    Agent,
    DisplayRow,
    Host,
    InterfaceRow,
    PendingPatchRow,
    ReportRecord,
    Site,
    SoftwareRow,
    WlanRow,
    table_of,
    utcnow,
)
from collector.report_decoding import HOST_FIELDS, NORMALIZED, BadReport, DecodedReport

log = logging.getLogger(__name__)


@dataclass
class StoreResult:
    status: str  # "stored" | "duplicate"
    report_id: str
    host_id: int
    changed_sections: list[str] = field(default_factory=list)


def _rows(section: str, data: Any, host_id: int) -> tuple[type[SQLModel], list[dict[str, Any]]]:
    """The rows of a normalized section's table, from the section's JSON data."""
    keys: tuple[str, ...]
    if section == "displays":
        keys = ("connector", "internal", "vendor_pnp", "model", "serial", "diagonal_in")
        keys += ("native_width_px", "native_height_px", "year")
        return DisplayRow, [{"host_id": host_id, **{k: d.get(k) for k in keys}} for d in data or []]
    if section == "network":
        interfaces = (data or {}).get("interfaces") or []
        return InterfaceRow, [
            {
                "host_id": host_id,
                "name": i.get("name"),
                "mac": i.get("mac"),
                "kind": i.get("kind"),
                "up": i.get("up"),
                "speed_mbps": i.get("speed_mbps"),
                "addresses": i.get("addresses") or [],
            }
            for i in interfaces
        ]
    if section == "wlan":
        interfaces = (data or {}).get("interfaces") or []
        keys = ("connected", "ssid", "bssid", "security", "cipher", "frequency_mhz", "signal_dbm")
        return WlanRow, [
            {"host_id": host_id, "interface": w.get("name"), **{k: w.get(k) for k in keys}}
            for w in interfaces
        ]
    if section == "patches":
        pending = (data or {}).get("pending") or []
        keys = ("name", "installed", "available", "security")
        return PendingPatchRow, [
            {"host_id": host_id, **{k: p.get(k) for k in keys}} for p in pending
        ]
    if section == "software":
        keys = ("name", "version", "publisher")
        return SoftwareRow, [
            {"host_id": host_id, **{k: s.get(k) for k in keys}} for s in data or []
        ]
    raise KeyError(section)


_HOSTS = table_of(Host)
_REPORTS = table_of(ReportRecord)
_AGENTS = table_of(Agent)


@dataclass(frozen=True)
class AgentIdentity:
    id: str
    machine_id: str
    site_id: int
    org_id: int


_SITES = table_of(Site)


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
_FIND_HOST = sa.select(
    _HOSTS.c.id,
    _HOSTS.c.last_collected_at,
    _HOSTS.c.section_hashes,
    _HOSTS.c.serial,
    # The host the report is stored under already (a resend): one query where two were.
    _FIND_REPORT.scalar_subquery().label("report_host_id"),
).where(
    _HOSTS.c.org_id == sa.bindparam("org_id"), _HOSTS.c.machine_id == sa.bindparam("machine_id")
)
_TOUCH_AGENT = (
    sa.update(_AGENTS)
    .where(_AGENTS.c.id == sa.bindparam("agent_id"), _AGENTS.c.revoked == sa.false())
    .values(last_seen=sa.bindparam("now"))
)
_INSERT_REPORT = sa.insert(_REPORTS)
_HOST_COLUMNS = [column for fields in HOST_FIELDS.values() for column in fields.values()]


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
                *_HOST_COLUMNS,
                "last_seen",
                "section_hashes",
                "last_collected_at",
                "last_report_id",
            )
        }
        # An import carries no agent: the host keeps the agent it has.
        | {"agent_id": sa.func.coalesce(_bind("agent_id"), _HOSTS.c.agent_id)}
    )
)
# A normalized section's rows are replaced whole: delete the host's, insert the new ones.
_ROW_STATEMENTS: dict[type[SQLModel], tuple[sa.Delete, sa.Insert]] = {
    model: (
        sa.delete(table_of(model)).where(table_of(model).c.host_id == sa.bindparam("b_host_id")),
        sa.insert(table_of(model)),
    )
    for model in (DisplayRow, InterfaceRow, WlanRow, PendingPatchRow, SoftwareRow)
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
                         source=source, report=report)  # fmt: skip


def store_decoded(
    session: Session | CoreWrite,
    decoded: DecodedReport,
    *,
    site_id: int,
    org_id: int,
    agent_id: str | None,
    source: str = "agent",
    report: Report | None = None,
) -> StoreResult:
    """The ingest hot path, in SQLAlchemy Core: a handful of statements, one transaction
    (``session``'s: a Session, or Database.core_write()'s where nothing else needs one).

    ``report`` is the validated model behind ``decoded`` where the caller has it; only a
    delta report needs it (to merge), and it is parsed again from the raw text otherwise.
    """
    conn = session.connection()
    report_id = decoded.report_id
    host = conn.execute(
        _FIND_HOST,
        {"org_id": org_id, "machine_id": decoded.machine_id, "report_id": report_id},
    ).first()
    now = utcnow()
    # Revoked since the request was authenticated (or since the token was cached)? Checked
    # inside the transaction, before anything else, resends included.
    if (
        agent_id is not None
        and conn.execute(_TOUCH_AGENT, {"agent_id": agent_id, "now": now}).rowcount == 0
    ):
        raise BadReport(401, "agent token was revoked")
    if host is not None:
        existing = host.report_host_id
    else:
        existing = conn.execute(_FIND_REPORT, {"report_id": report_id}).scalar()
    if existing is not None:
        if host is None or existing != host.id:
            raise BadReport(409, "report_id is already used by a report of another host")
        return StoreResult("duplicate", report_id, existing)
    if decoded.is_delta:  # merged into the host's latest report, or 409 need_full
        from collector.delta import resolve  # noqa: PLC0415  (it imports this module)

        if report is None:  # decoded elsewhere (a decode worker): it was valid there
            report = Report.model_validate_json(decoded.raw)
        full, raw = resolve(conn, host.id if host is not None else None, report)
        decoded = DecodedReport.of(full, raw)
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
        hashes = decoded.section_hashes
        old = old_hashes or {}
        changed = [s for s in SECTIONS if old.get(s) != hashes[s]]
        for section in (s for s in changed if s in NORMALIZED):
            model, rows = _rows(section, decoded.section_data(section), host_id)
            delete_rows, insert_rows = _ROW_STATEMENTS[model]
            conn.execute(delete_rows, {"b_host_id": host_id})
            if rows:
                conn.execute(insert_rows, rows)
        values = {f"b_{column}": value for column, value in decoded.host_columns.items()}
        values.update(
            b_host_id=host_id,
            b_last_seen=now,
            b_section_hashes=hashes,
            b_last_collected_at=collected_at,
            b_last_report_id=report_id,
            b_agent_id=agent_id,
        )
        conn.execute(_UPDATE_HOST_LATEST, values)
    else:
        conn.execute(_UPDATE_HOST_SEEN, {"b_host_id": host_id, "b_last_seen": now})
    raw = decoded.raw
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
