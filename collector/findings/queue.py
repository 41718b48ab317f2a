"""The durable findings queue: a host is due for evaluation while the report its findings
were evaluated from (``host_evaluations.evaluated_report_id``) differs from its latest
(``hosts.last_report_id``). Nothing is kept in memory, so a crashed collector loses no
evaluation: any replica finds the host due again. A report that changes nothing counts as
evaluated where the one before it was, the same UTC day (collector.ingest: the evaluation
would give the same findings); ``evaluated_at`` says when a host was evaluated.

An evaluator claims a batch of due hosts with a lease (``lease_until``) so that no host is
evaluated by two replicas at once; on PostgreSQL the claim's ``SELECT ... FOR UPDATE SKIP
LOCKED`` lets concurrent claims pass each other instead of waiting. A crashed replica's
lease expires and the host is claimed again. On SQLite (one process) the same statements
run without row locks.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from collector.db import Database
from collector.models import Host, HostEvaluation, table_of, utcnow

_H = table_of(Host)
_E = table_of(HostEvaluation)
LEASE_SECONDS = 120.0


def _add_missing(conn: sa.Connection) -> None:
    """Hosts stored since the last claim get their queue row (ingest does not write it:
    one statement less on the hot path)."""
    missing = sa.select(_H.c.id).where(
        _H.c.last_report_id.is_not(None), ~sa.exists().where(_E.c.host_id == _H.c.id)
    )
    insert = postgresql.insert(_E) if conn.dialect.name == "postgresql" else sqlite.insert(_E)
    conn.execute(insert.from_select(["host_id"], missing).on_conflict_do_nothing())


def _due(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        _H.c.last_report_id.is_not(None),
        _E.c.evaluated_report_id.is_distinct_from(_H.c.last_report_id),
        sa.or_(_E.c.lease_until.is_(None), _E.c.lease_until < now),
    )


def claim(
    db: Database,
    limit: int,
    lease: float = LEASE_SECONDS,
    now: dt.datetime | None = None,
    *,
    after: int = 0,
) -> dict[int, str]:
    """Up to ``limit`` due hosts with an id above ``after``, leased to the caller: host id ->
    the latest report id at the claim (what :func:`done` records as evaluated)."""
    now = now or utcnow()
    with db.core_write() as tx:
        conn = tx.connection()
        _add_missing(conn)
        rows = conn.execute(
            sa.select(_E.c.host_id, _H.c.last_report_id)
            .join(_H, _H.c.id == _E.c.host_id)
            .where(_due(now), _E.c.host_id > after)
            .order_by(_E.c.host_id)
            .limit(limit)
            .with_for_update(of=_E, skip_locked=True)
        ).all()
        claimed = {int(row.host_id): str(row.last_report_id) for row in rows}
        if claimed:
            conn.execute(
                sa.update(_E)
                .where(_E.c.host_id.in_(claimed))
                .values(lease_until=now + dt.timedelta(seconds=lease))
            )
        tx.commit()
    return claimed


def done(db: Database, evaluated: dict[int, str], now: dt.datetime | None = None) -> None:
    """Records the hosts as evaluated from the given reports (at ``now``) and ends their
    lease. A host whose latest report is newer by now stays due."""
    if not evaluated:
        return
    statement = (
        sa.update(_E)
        .where(_E.c.host_id == sa.bindparam("h"))
        .values(
            evaluated_report_id=sa.bindparam("r"), lease_until=None, evaluated_at=now or utcnow()
        )
    )
    with db.core_write() as tx:
        tx.connection().execute(statement, [{"h": h, "r": r} for h, r in evaluated.items()])
        tx.commit()


def due_count(db: Database) -> int:
    """How many hosts wait for evaluation (leased or not)."""
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(_H)
                .outerjoin(_E, _E.c.host_id == _H.c.id)
                .where(
                    _H.c.last_report_id.is_not(None),
                    _E.c.evaluated_report_id.is_distinct_from(_H.c.last_report_id),
                )
            ).scalar_one()
        )
