"""collector.bulk.executemany writes what SQLAlchemy's own executemany writes: types
converted alike, every row (across multi-row INSERT chunks on PostgreSQL), an upsert's
conflicts resolved alike."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from collector import bulk
from collector.models import ReportId, UTCDateTime
from tests.collector.helpers import BACKENDS, database_url

META = sa.MetaData()
ROWS = sa.Table(
    "bulk_rows",
    META,
    sa.Column("k", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(40)),
    sa.Column("at", UTCDateTime),
    sa.Column("report_id", ReportId),
    sa.Column("data", sa.JSON),
)


def _rows(n: int, version: str) -> list[dict[str, Any]]:
    t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    return [
        {"k": k, "name": f"p%s-{k}-{version}" if k % 7 == 0 else f"p{k}-{version}",
         "at": t0 + dt.timedelta(seconds=k), "report_id": str(uuid.UUID(int=k + 1)),
         "data": {"v": version, "list": [k, None, "ä"]}}
        for k in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_executemany_writes_what_sqlalchemy_writes(backend: str, tmp_path: Path) -> None:
    n = 2 * bulk.MAX_VALUES_ROWS + 5  # three chunks on PostgreSQL, the last one short
    with database_url(backend, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            contents = []
            for ours in (False, True):
                with engine.begin() as conn:
                    META.drop_all(conn)
                    META.create_all(conn)
                    insert = sa.insert(ROWS)
                    upsert = _upsert(backend)
                    run = bulk.executemany if ours else (lambda c, s, r: c.execute(s, r))
                    run(conn, insert, _rows(n, "1"))
                    # every third row again, changed: updated by the upsert
                    run(conn, upsert, [r for r in _rows(n, "2") if r["k"] % 3 == 0])
                    run(conn, insert, [{**_rows(n + 1, "3")[n]}])  # one row alone
                    contents.append(conn.execute(sa.select(ROWS).order_by(ROWS.c.k)).all())
                    META.drop_all(conn)
            assert contents[0] == contents[1]
            assert len(contents[1]) == n + 1
            assert contents[1][3].name == "p3-2" and contents[1][4].name == "p4-1"
            assert contents[1][7].name == "p%s-7-1"  # a literal % stays one
        finally:
            engine.dispose()


def _upsert(backend: str) -> sa.Insert:
    dialect: Any = postgresql if backend == "postgres" else sqlite
    statement = dialect.insert(ROWS)
    upsert: sa.Insert = statement.on_conflict_do_update(
        index_elements=[ROWS.c.k],
        set_={"name": statement.excluded.name, "data": statement.excluded.data},
    )
    return upsert


def test_a_postgresql_insert_is_split_around_its_values_row() -> None:
    head, row, tail = bulk._values_row(
        "INSERT INTO t (a, b) VALUES (%(a)s::INTEGER, %(b)s::VARCHAR(16)) ON CONFLICT (a) "
        "DO UPDATE SET b = excluded.b"
    ) or ("", "", "")
    assert head == "INSERT INTO t (a, b) VALUES "
    assert row == "(%(a)s::INTEGER, %(b)s::VARCHAR(16))"
    assert tail == " ON CONFLICT (a) DO UPDATE SET b = excluded.b"
