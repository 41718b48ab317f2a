"""Scheduled SSH collection shared by all replicas: each target is due at ``next_due_at``;
a replica claims due targets with a lease (``lease_until``; on PostgreSQL ``SELECT ... FOR
UPDATE SKIP LOCKED``, so replicas pass each other instead of waiting), collects them, and
sets the next due time. A crashed replica's lease expires and another collects its targets.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from collector.db import Database
from collector.models import SshTarget, table_of, utcnow

_T = table_of(SshTarget)


def claim_due(db: Database, limit: int, lease: float, now: dt.datetime | None = None) -> list[int]:
    """Up to ``limit`` targets due now and not leased by another replica, leased to the
    caller for ``lease`` seconds."""
    now = now or utcnow()
    with db.core_write() as tx:
        conn = tx.connection()
        ids = list(
            conn.execute(
                sa.select(_T.c.id)
                .where(
                    sa.or_(_T.c.next_due_at.is_(None), _T.c.next_due_at <= now),
                    sa.or_(_T.c.lease_until.is_(None), _T.c.lease_until < now),
                )
                .order_by(_T.c.next_due_at.is_not(None), _T.c.next_due_at, _T.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if ids:
            conn.execute(
                sa.update(_T)
                .where(_T.c.id.in_(ids))
                .values(lease_until=now + dt.timedelta(seconds=lease))
            )
        tx.commit()
    return ids


def reschedule(db: Database, target_id: int, interval: float) -> None:
    """The target's next collection after ``interval`` seconds; its lease ends."""
    with db.core_write() as tx:
        tx.connection().execute(
            sa.update(_T)
            .where(_T.c.id == target_id)
            .values(next_due_at=utcnow() + dt.timedelta(seconds=interval), lease_until=None)
        )
        tx.commit()
