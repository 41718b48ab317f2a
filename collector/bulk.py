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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class Prepared:
    """A statement compiled for one dialect and set of parameter keys."""

    sql: str
    names: tuple[str, ...]  # bind names, in the SQL's order (positional) or any (named)
    keys: tuple[str, ...]  # the parameter key each bind name takes its value from
    processors: tuple[Processor | None, ...]
    positional: bool

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
    return Prepared(
        compiled.string, names, tuple(bind.key for bind in binds), processors, positional
    )


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
    conn.exec_driver_sql(prepared.sql, prepared.params(rows))
