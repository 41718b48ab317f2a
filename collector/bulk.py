"""Many rows of one statement straight to the driver's ``executemany``.

``conn.execute(statement, rows)`` runs every row through SQLAlchemy's per-parameter
handling (a dictionary built and every value's type processor looked up, per row): in a
group commit of full reports, flushing the batch's writes was a third of the writer
thread's time, about half of it that handling (benchmarks/ingest.py, py-spy). Here a
statement is compiled once per dialect and set of keys, its bind processors are taken once,
and the rows go to the driver as tuples (or, for PostgreSQL's named parameters,
dictionaries) with the same conversions SQLAlchemy applies.

A statement SQLAlchemy would add values to (Python-side defaults of columns the rows do not
carry, Python-side ``onupdate``) or one with expanding parameters is run the ordinary way
instead.

On PostgreSQL an INSERT's rows go as one statement with many VALUES rows (up to
MAX_VALUES_ROWS each) instead of one execution per row: psycopg's pipelined executemany
costs ~22 us of client CPU and ~20 us of PostgreSQL CPU per row, a multi-row VALUES ~15
and ~6-15 (measured here with 16 rows of five columns).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]

# Rows per multi-row INSERT: few statement shapes (each is prepared by the server once it
# repeats), and far below PostgreSQL's 65,535 parameters.
MAX_VALUES_ROWS = 64
_PARAM = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Prepared:
    """A statement compiled for one dialect and set of parameter keys."""

    sql: str
    names: tuple[str, ...]  # bind names, in the SQL's order (positional) or any (named)
    keys: tuple[str, ...]  # the parameter key each bind name takes its value from
    processors: tuple[Processor | None, ...]
    positional: bool
    # A PostgreSQL INSERT: its SQL before and after its one VALUES row, and that row.
    values: tuple[str, str, str] | None = None
    _many: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    def many_sql(self, rows: int) -> str:
        """The INSERT with ``rows`` VALUES rows, the parameters of row i named ``<name>_i``."""
        sql = self._many.get(rows)
        if sql is None:
            assert self.values is not None
            head, row, tail = self.values
            groups = (_PARAM.sub(rf"%(\1_{i})s", row) for i in range(rows))
            sql = self._many[rows] = f"{head}{', '.join(groups)}{tail}"
        return sql

    def many_params(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        fields = list(zip(self.names, self.keys, self.processors, strict=True))
        return {
            f"{name}_{i}": row[k] if p is None else p(row[k])
            for i, row in enumerate(rows)
            for name, k, p in fields
        }

    def params(self, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """The rows as the driver takes them, with the columns' conversions applied."""
        fields = list(zip(self.keys, self.processors, strict=True))
        if self.positional:
            return [tuple(row[k] if p is None else p(row[k]) for k, p in fields) for row in rows]
        return [
            {
                name: row[k] if p is None else p(row[k])
                for name, (k, p) in zip(self.names, fields, strict=True)
            }
            for row in rows
        ]


# Keyed by the statement's id; the statement is kept with its entry, so that its id is
# never another statement's.
_CACHE: dict[tuple[int, str, str, tuple[str, ...]], tuple[sa.Executable, Prepared | None]] = {}


def prepare(statement: sa.Executable, dialect: Dialect, keys: Sequence[str]) -> Prepared | None:
    """The statement as driver SQL for rows with ``keys``; None where SQLAlchemy must run it
    (it would compute values of its own, or expand a parameter per execution)."""
    cache_key = (id(statement), dialect.name, dialect.paramstyle, tuple(keys))
    cached = _CACHE.get(cache_key)
    if cached is not None:
        return cached[1]
    prepared = _compile(statement, dialect, keys)
    _CACHE[cache_key] = (statement, prepared)
    return prepared


def _compile(statement: sa.Executable, dialect: Dialect, keys: Sequence[str]) -> Prepared | None:
    assert isinstance(statement, sa.ClauseElement)
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    # (Columns set by SQL expressions, ``postfetch``, need nothing: the SQL computes them.)
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or any(bind.expanding for bind in compiled.binds.values())
    ):
        return None
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
    binds = [compiled.binds[name] for name in names]
    if any(bind.key not in keys for bind in binds):
        return None  # a value not from the rows (a literal, or missing: SQLAlchemy says so)
    processors = tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds)
    values = None
    if isinstance(statement, sa.Insert) and dialect.name == "postgresql" and not positional:
        values = _values_row(compiled.string)
    return Prepared(
        compiled.string, names, tuple(bind.key for bind in binds), processors, positional, values
    )


def _values_row(sql: str) -> tuple[str, str, str] | None:
    """An INSERT's SQL split around its one VALUES row (None: not of that form)."""
    start = sql.find(" VALUES (")
    if start < 0:
        return None
    start += len(" VALUES ")
    depth = 0
    for end in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            return sql[:start], sql[start : end + 1], sql[end + 1 :]
    return None


def executemany(conn: sa.Connection, statement: sa.Executable, rows: list[dict[str, Any]]) -> None:
    """``conn.execute(statement, rows)`` through the driver's executemany (rows with other
    keys than the first one's: through SQLAlchemy, which says what is missing)."""
    if not rows:
        return
    keys = rows[0].keys()
    prepared = prepare(statement, conn.dialect, list(keys))
    if prepared is None or any(row.keys() != keys for row in rows):
        conn.execute(statement, rows)
        return
    if prepared.values is not None and len(rows) > 1:
        for at in range(0, len(rows), MAX_VALUES_ROWS):
            part = rows[at : at + MAX_VALUES_ROWS]
            conn.exec_driver_sql(prepared.many_sql(len(part)), prepared.many_params(part))
        return
    conn.exec_driver_sql(prepared.sql, prepared.params(rows))
