"""History as changes: ``host_history`` (the sections a report changed, compressed, and full
snapshots), ``host_changes`` (the readable change log), ``report_receipts`` (every received
report's id for 45 days), ``hosts.stable_hashes``; the raw reports (``reports``) are
converted and dropped.

Conversion, host by host, in collection order: the first report becomes a snapshot, each
later one a history row with the sections whose stable content (collector.sections) differs
from the report before it, and its readable changes; reports received within the last 45
days also get a receipt (a resend from an agent's outbox stays a duplicate). The current
state (``host_sections``) is not touched: it already is the latest report's. On PostgreSQL
the history tables are partitioned by month of ``received_at`` (collector.partitions),
with a partition for every month the converted rows need and the next ones.

Revision ID: 0014_history
Revises: 0013_policy_check_state
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op

revision = "0014_history"
down_revision = "0013_policy_check_state"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
HOST_BATCH = 200


def _report_id() -> sa.types.TypeEngine[Any]:
    from sqlalchemy.dialects import postgresql  # noqa: PLC0415

    return sa.LargeBinary(16).with_variant(postgresql.UUID(as_uuid=False), "postgresql")


def _epoch() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.DateTime(timezone=True), "postgresql")


def upgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    # (A server default, so that SQLite adds the column in place: rebuilding the hosts
    # table would trip over the rows that reference it.)
    with op.batch_alter_table("hosts") as table:
        table.add_column(sa.Column("stable_hashes", sa.JSON(), nullable=False,
                                   server_default="{}"))  # fmt: skip
        table.add_column(sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True))
    if postgres:
        _create_partitioned()
    else:
        _create_history_tables()
    op.create_table(
        "report_receipts",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("report_id", _report_id(), nullable=False),
        sa.Column("received_at", _epoch(), nullable=False),
        sa.Column("collected_at", _epoch(), nullable=False),
        sa.Column("source", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", "report_id"),
        sqlite_with_rowid=False,
    )  # fmt: skip
    if postgres:
        # Pruning finds old receipts by time: a BRIN index is a few pages for millions of
        # rows appended in time order (SQLite prunes host by host instead: no index there).
        op.execute(
            "CREATE INDEX ix_report_receipts_received ON report_receipts USING brin (received_at)"
        )
    _convert()
    op.drop_table("reports")


def _create_history_tables() -> None:
    op.create_table(
        "host_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("report_id", _report_id(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("snapshot", sa.Boolean(), nullable=False),
        sa.Column("sections", sa.String(length=256), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("previous", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_host_history_host", "host_history", ["host_id", "id"])
    op.create_index("ix_host_history_received", "host_history", ["received_at"])
    op.create_table(
        "host_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("report_id", _report_id(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("item", sa.String(length=512), nullable=True),
        sa.Column("field", sa.String(length=128), nullable=True),
        sa.Column("old", sa.String(length=1024), nullable=True),
        sa.Column("new", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_host_changes_host", "host_changes", ["host_id", "id"])
    op.create_index("ix_host_changes_received", "host_changes", ["received_at"])


def _create_partitioned() -> None:
    # A partitioned table's primary key must hold the partition key.
    op.execute(
        """
        CREATE TABLE host_history (
            id BIGSERIAL NOT NULL,
            host_id INTEGER NOT NULL REFERENCES hosts (id),
            report_id UUID NOT NULL,
            collected_at TIMESTAMP WITH TIME ZONE NOT NULL,
            received_at TIMESTAMP WITH TIME ZONE NOT NULL,
            source VARCHAR(16) NOT NULL,
            snapshot BOOLEAN NOT NULL,
            sections VARCHAR(256) NOT NULL,
            data BYTEA NOT NULL,
            previous BYTEA,
            PRIMARY KEY (id, received_at)
        ) PARTITION BY RANGE (received_at)
        """
    )
    op.execute(
        """
        CREATE TABLE host_changes (
            id BIGSERIAL NOT NULL,
            host_id INTEGER NOT NULL REFERENCES hosts (id),
            report_id UUID NOT NULL,
            collected_at TIMESTAMP WITH TIME ZONE NOT NULL,
            received_at TIMESTAMP WITH TIME ZONE NOT NULL,
            section VARCHAR(16) NOT NULL,
            action VARCHAR(8) NOT NULL,
            item VARCHAR(512),
            field VARCHAR(128),
            old VARCHAR(1024),
            new VARCHAR(1024),
            PRIMARY KEY (id, received_at)
        ) PARTITION BY RANGE (received_at)
        """
    )
    for table in ("host_history", "host_changes"):
        op.execute(f"CREATE INDEX ix_{table}_host ON {table} (host_id, id)")
        op.execute(f"CREATE INDEX ix_{table}_received ON {table} (received_at)")


def _convert() -> None:
    """The raw reports as history rows, changes and receipts (see the module's text)."""
    from agent.schema import SECTIONS, decode_report, encode  # noqa: PLC0415
    from collector import history, partitions  # noqa: PLC0415
    from collector.changes import Change, section_changes  # noqa: PLC0415
    from collector.models import (  # noqa: PLC0415
        HostChange,
        HostHistory,
        ReportReceipt,
        UTCDateTime,
        table_of,
    )
    from collector.report_decoding import (  # noqa: PLC0415
        change_hash,
        stable_hash,
    )

    conn = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    reports = sa.table("reports", sa.column("host_id"), sa.column("report_id"),
                       sa.column("collected_at", UTCDateTime()),
                       sa.column("received_at", UTCDateTime()), sa.column("source"),
                       sa.column("raw"), sa.column("id"))  # fmt: skip
    hosts = sa.table("hosts", sa.column("id"), sa.column("stable_hashes", sa.JSON()))
    sections_table = sa.table("host_sections", sa.column("host_id"), sa.column("section"),
                              sa.column("data"))  # fmt: skip
    if conn.dialect.name == "postgresql":
        oldest = conn.execute(sa.select(sa.func.min(reports.c.received_at))).scalar()
        partitions.create_months(conn, _aware(oldest or now), partitions.next_month(
            partitions.next_month(partitions.month_start(now))))  # fmt: skip
    receipt_from = now - dt.timedelta(days=history.RECEIPT_DAYS)
    history_rows: list[dict[str, Any]] = []
    change_rows: list[dict[str, Any]] = []
    receipt_rows: list[dict[str, Any]] = []
    host_ids = list(conn.execute(sa.select(hosts.c.id).order_by(hosts.c.id)).scalars())
    converted = 0
    for index, host_id in enumerate(host_ids):
        previous: dict[str, tuple[bytes, str]] = {}
        found = conn.execute(
            sa.select(reports.c.report_id, reports.c.collected_at, reports.c.received_at,
                      reports.c.source, reports.c.raw)
            .where(reports.c.host_id == host_id)
            .order_by(reports.c.collected_at, reports.c.id)
        )  # fmt: skip
        for report_id, collected, received, source, raw in found:
            converted += 1
            received_at = _aware(received)
            about = {"host_id": host_id, "report_id": report_id,
                     "collected_at": _aware(collected), "received_at": received_at}  # fmt: skip
            if received_at >= receipt_from:
                receipt_rows.append({**about, "source": history.source_code(source)})
            try:
                report = decode_report(raw)
            except msgspec.DecodeError:  # a schema error too
                continue  # a report this contract no longer reads: nothing to compare
            dumps = {s: encode(getattr(report, s)) for s in SECTIONS}
            stables = {s: stable_hash(s, dumps[s], change_hash(dumps[s]))
                       for s in SECTIONS}  # fmt: skip
            changed = [s for s in SECTIONS if s not in previous or previous[s][1] != stables[s]]
            if changed:
                first = not previous
                before = {s: previous[s][0].decode() for s in changed if s in previous}
                if first:
                    changes = [Change("host", "added", None, None, None, "first report")]
                else:
                    changes = [c for s in changed for c in section_changes(
                        s, json.loads(before[s]), json.loads(dumps[s]))]  # fmt: skip
                after = dumps if first else {s: dumps[s] for s in changed}
                old_text = history.sections_text(before) if before else None
                data, prev = history.pack(history.sections_text(after), old_text)
                history_rows.append({**about, "source": source, "snapshot": first,
                                     "sections": ",".join(changed), "data": data,
                                     "previous": prev})  # fmt: skip
                change_rows.extend({**about, **c.row()} for c in changes)
            previous = {s: (dumps[s], stables[s]) for s in SECTIONS}
        if len(history_rows) + len(receipt_rows) >= 5000 or index == len(host_ids) - 1:
            _flush(conn, table_of(HostHistory), history_rows)
            _flush(conn, table_of(HostChange), change_rows)
            _flush(conn, table_of(ReportReceipt), receipt_rows)
        if index % 1000 == 999:
            log.info("0014_history: %d of %d hosts, %d reports converted", index + 1,
                     len(host_ids), converted)  # fmt: skip
    _stable_hashes(conn, hosts, sections_table, stable_hash)


def _stable_hashes(conn: sa.Connection, hosts: Any, sections_table: Any, stable_hash: Any) -> None:
    """Each host's stable hashes from its current state."""
    last = 0
    while True:
        ids = list(conn.execute(sa.select(hosts.c.id).where(hosts.c.id > last)
                                .order_by(hosts.c.id).limit(HOST_BATCH)).scalars())  # fmt: skip
        if not ids:
            return
        last = ids[-1]
        out: dict[int, dict[str, str]] = {host_id: {} for host_id in ids}
        rows = conn.execute(
            sa.select(
                sections_table.c.host_id, sections_table.c.section, sections_table.c.data
            ).where(sections_table.c.host_id.in_(ids), sections_table.c.section != "collection")
        )
        for host_id, section, data in rows:
            out[host_id][section] = stable_hash(section, data.encode())
        for host_id, hashes in out.items():
            conn.execute(sa.update(hosts).where(hosts.c.id == host_id)
                         .values(stable_hashes=hashes))  # fmt: skip


def _flush(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(sa.insert(table), rows)
        rows.clear()


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def downgrade() -> None:
    # The raw reports are not rebuilt: a downgrade keeps the current state and loses the
    # history (the table comes back empty).
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("changed_sections", sa.JSON(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_id"),
    )
    op.create_index("ix_reports_host_collected", "reports", ["host_id", "collected_at"])
    op.drop_table("report_receipts")
    op.drop_table("host_changes")
    op.drop_table("host_history")
    with op.batch_alter_table("hosts") as table:
        table.drop_column("snapshot_at")
        table.drop_column("stable_hashes")
