"""Retention: a background thread deletes history older than INVENTAR_HISTORY_RETENTION_DAYS
and report receipts older than 45 days, in small batches (one short transaction each, so
ingest is never held up for long), once an hour.

On PostgreSQL the history tables are partitioned by month (collector.partitions): a month
that lies wholly before the cutoff is dropped (no row by row delete, no bloat); the month
the cutoff falls into is deleted in batches; months ahead are created. Only one replica
prunes at a time (a PostgreSQL advisory lock), and each hourly tick runs once across
replicas (collector.jobs). Receipts are
deleted in batches found by time (a BRIN index) on PostgreSQL and host by host on SQLite
(they are clustered by host there, without a time index, which would double their size).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from collector import audit, jobs, partitions
from collector.db import Database
from collector.history import RECEIPT_DAYS
from collector.models import Host, HostChange, HostHistory, ReportReceipt, table_of, utcnow

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0
FIRST_DELAY_SECONDS = 60.0
BATCH_ROWS = 2000
BATCH_HOSTS = 100
# pg_try_advisory_lock key of the retention job ("inventar retention").
_LOCK_KEY = 0x1A7E_4E71_0000_0001

_HOSTS = table_of(Host)
_RECEIPTS = table_of(ReportReceipt)
_HISTORY_TABLES = (table_of(HostHistory), table_of(HostChange))


@dataclass
class Pruned:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    dropped: list[str] = field(default_factory=list)  # partitions dropped
    created: list[str] = field(default_factory=list)  # partitions created
    skipped: bool = False  # another replica held the lock


def prune(db: Database, retention_days: int, now: dt.datetime | None = None) -> Pruned:
    """One round: partitions ahead, history older than ``retention_days``, receipts older
    than RECEIPT_DAYS. Each batch is its own transaction."""
    now = now or utcnow()
    out = Pruned()
    with db.engine.connect() as lock:
        if (
            not db.is_sqlite
            and not lock.execute(sa.select(sa.func.pg_try_advisory_lock(_LOCK_KEY))).scalar()
        ):
            out.skipped = True
            return out
        try:
            _prune(db, retention_days, now, out)
        finally:
            if not db.is_sqlite:
                lock.execute(sa.select(sa.func.pg_advisory_unlock(_LOCK_KEY)))
                lock.commit()
    return out


def _prune(db: Database, retention_days: int, now: dt.datetime, out: Pruned) -> None:
    cutoff = now - dt.timedelta(days=retention_days)
    with db.core_write() as tx:
        conn = tx.connection()
        out.created = partitions.create_ahead(conn, now)
        out.dropped = partitions.drop_before(conn, cutoff)
        tx.commit()
    for table in _HISTORY_TABLES:
        out.rows[table.name] = _delete_batches(db, table, cutoff)
    out.rows[_RECEIPTS.name] = _delete_receipts(db, now - dt.timedelta(days=RECEIPT_DAYS))
    if out.dropped or any(out.rows.values()):
        log.info("retention: %s deleted, partitions dropped: %s",
                 ", ".join(f"{n} {t}" for t, n in out.rows.items()),
                 ", ".join(out.dropped) or "none")  # fmt: skip


def _delete_batches(db: Database, table: sa.Table, cutoff: dt.datetime) -> int:
    """Deletes ``table``'s rows received before ``cutoff``, BATCH_ROWS per transaction."""
    old = (
        sa.select(table.c.id)
        .where(table.c.received_at < sa.bindparam("cutoff", type_=table.c.received_at.type))
        .limit(BATCH_ROWS)
        .scalar_subquery()
    )
    statement = sa.delete(table).where(table.c.id.in_(old))
    return _until_done(db, statement, cutoff)


def _delete_receipts(db: Database, cutoff: dt.datetime) -> int:
    if not db.is_sqlite:
        old = sa.text(
            "DELETE FROM report_receipts WHERE ctid = ANY(ARRAY(SELECT ctid FROM "
            f"report_receipts WHERE received_at < :cutoff LIMIT {BATCH_ROWS}))"
        )
        return _until_done(db, old, cutoff)
    deleted = 0
    with db.engine.connect() as conn:
        host_ids = list(conn.execute(sa.select(_HOSTS.c.id).order_by(_HOSTS.c.id)).scalars())
    statement = sa.delete(_RECEIPTS).where(
        _RECEIPTS.c.host_id.in_(sa.bindparam("host_ids", expanding=True)),
        _RECEIPTS.c.received_at < sa.bindparam("cutoff", type_=_RECEIPTS.c.received_at.type),
    )
    for i in range(0, len(host_ids), BATCH_HOSTS):
        with db.core_write() as tx:
            result = tx.connection().execute(
                statement, {"host_ids": host_ids[i : i + BATCH_HOSTS], "cutoff": cutoff}
            )
            tx.commit()
        deleted += result.rowcount
    return deleted


def _until_done(db: Database, statement: sa.Executable, cutoff: dt.datetime) -> int:
    deleted = 0
    while True:
        with db.core_write() as tx:
            result = tx.connection().execute(statement, {"cutoff": cutoff})
            tx.commit()
        count = int(getattr(result, "rowcount", 0) or 0)
        deleted += count
        if count < BATCH_ROWS:
            return deleted


class RetentionJob:
    """The retention thread of one collector process: a round FIRST_DELAY_SECONDS after the
    start, then once per INTERVAL_SECONDS tick across all replicas (collector.jobs: the
    replica that claims the tick prunes; if it dies mid-round another takes the tick over
    after the lease); the next months' partitions at once."""

    JOB = "retention"

    def __init__(self, db: Database, retention_days: int, *, interval: float = INTERVAL_SECONDS,
                 first_delay: float = FIRST_DELAY_SECONDS,
                 audit_days: int | None = None) -> None:  # fmt: skip
        self.db = db
        self.retention_days = retention_days
        self.audit_days = audit_days  # the audit log's (collector.audit); None: kept
        self.interval = interval
        self.first_delay = first_delay
        self._job = jobs.PeriodicJob(
            db, self.JOB, self.round, interval=interval, first_delay=first_delay
        )

    def start(self) -> RetentionJob:
        try:
            with self.db.core_write() as tx:
                partitions.create_ahead(tx.connection(), utcnow())
                tx.commit()
        except Exception:
            log.exception("retention: creating the next months' partitions failed")
        self._job.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._job.stop(timeout)

    def round(self) -> None:
        prune(self.db, self.retention_days)
        if self.audit_days is not None:
            deleted = audit.purge(self.db, self.audit_days)
            if deleted:
                log.info("audit log: %d entries older than %d days deleted", deleted,
                         self.audit_days)  # fmt: skip
