"""Monthly partitions of the history tables on PostgreSQL (native declarative partitioning).

``host_history`` and ``host_changes`` are partitioned by RANGE of ``received_at`` (the
collector's clock, never an agent's), one partition per calendar month (UTC), named
``<table>_pYYYYMM``. The migration creates the months its data needs and the next ones;
the retention job (collector.retention) creates months ahead and drops a month once all of
it is older than the retention. SQLite has no partitions: there the job deletes rows.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from collector.models import PARTITIONED

# Months created ahead of the current one, so that ingest never meets a missing partition.
MONTHS_AHEAD = 2
_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<year>\d{4})(?P<month>\d{2})$")


def month_start(when: dt.datetime | dt.date) -> dt.date:
    return dt.date(when.year, when.month, 1)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month.year:04d}{month.month:02d}"


def create_months(
    conn: sa.Connection, first: dt.datetime | dt.date, last: dt.datetime | dt.date
) -> list[str]:
    """Creates the partitions of every partitioned table for the months from ``first`` to
    ``last`` (included) that do not exist yet; returns those created."""
    if conn.dialect.name != "postgresql":
        return []
    created = []
    existing = set(partitions(conn))
    month, end = month_start(first), month_start(last)
    while month <= end:
        upper = next_month(month)
        for table in PARTITIONED:
            name = partition_name(table, month)
            if name in existing:
                continue
            # Names and bounds are ours (no input reaches them).
            conn.execute(
                sa.text(
                    f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table}" '
                    f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') "
                    f"TO ('{upper.isoformat()} 00:00:00+00')"
                )
            )
            created.append(name)
        month = upper
    return created


def create_ahead(conn: sa.Connection, now: dt.datetime) -> list[str]:
    """This month's partitions and the next MONTHS_AHEAD months'."""
    last = month_start(now)
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    return create_months(conn, month_start(now), last)


def partitions(conn: sa.Connection) -> dict[str, tuple[str, dt.date]]:
    """The existing partitions of the partitioned tables: name -> (table, month)."""
    if conn.dialect.name != "postgresql":
        return {}
    rows = conn.execute(
        sa.text(
            "SELECT child.relname, parent.relname FROM pg_inherits "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "WHERE parent.oid = ANY(CAST(:tables AS regclass[]))"
        ),
        {"tables": list(PARTITIONED)},
    )
    out = {}
    for name, table in rows:
        match = _NAME.match(name)
        if match and match["table"] == table:
            out[name] = (table, dt.date(int(match["year"]), int(match["month"]), 1))
    return out


def drop_before(conn: sa.Connection, cutoff: dt.datetime) -> list[str]:
    """Drops every partition whose whole month lies before ``cutoff``; returns their names."""
    dropped = []
    for name, (_table, month) in sorted(partitions(conn).items()):
        end = next_month(month)
        if dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC) <= cutoff:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
            dropped.append(name)
    return dropped
