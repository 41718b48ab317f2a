"""The migrations build exactly the schema that collector/models.py declares, on SQLite and
PostgreSQL: a column added to a model without a migration (or the other way round) fails here
instead of on an admin's database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import collector.models  # noqa: F401  (registers the tables)
from collector.db import Database
from tests.collector.helpers import database_url

# The monthly partitions of the history tables (collector.partitions) are created at run
# time, not declared as models.
_PARTITION = re.compile(r"^host_(history|changes)_p\d{6}")


def _not_a_partition(name: str | None, kind: str, parent: dict[str, Any]) -> bool:
    table = name if kind == "table" else parent.get("table_name")
    return not (table and _PARTITION.match(table))


def _of_this_dialect(dialect: str) -> Any:
    """Alembic does not follow ``ddl_if``: an index declared for one dialect only says so in
    its ``info`` (collector.models.ReportReceipt)."""

    def include(obj: Any, _name: Any, _kind: str, _reflected: bool, _compare_to: Any) -> bool:
        wanted = getattr(obj, "info", {}).get("dialect")
        return wanted is None or wanted == dialect

    return include


def _differences(url: str) -> list[object]:
    db = Database(url)
    db.upgrade()
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": _not_a_partition,
                    "include_object": _of_this_dialect(conn.dialect.name),
                },
            )
            diffs = compare_metadata(context, SQLModel.metadata)
    finally:
        db.dispose()
    # alembic_version is Alembic's own table, not a model.
    return [d for d in diffs if not (d[0] == "remove_table" and d[1].name == "alembic_version")]


def test_migrated_schema_equals_the_models(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        assert _differences(url) == []


def test_an_existing_database_keeps_its_rows_through_the_newest_migration(tmp_path: Path) -> None:
    """A database at 0005 with a secret, a token and an agent upgrades with them intact."""
    from collector.db import upgrade

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db.engine, "0005_merge_branches")
    with db.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO organizations (name, created_at) VALUES ('o', '2025-01-01')")
        )
        conn.execute(
            sa.text(
                "INSERT INTO sites (name, kind, org_id, created_at) "
                "VALUES ('s', 'school', 1, '2025-01-01')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO enrollment_secrets (site_id, secret_hash, revoked, created_at) "
                "VALUES (1, 'h1', 0, '2025-01-01')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO api_tokens (role, token_hash, revoked, created_at) "
                "VALUES ('admin', 'h2', 0, '2025-01-01')"
            )
        )
    db.upgrade()
    with db.engine.connect() as conn:
        secret = conn.execute(
            sa.text("SELECT uses, max_uses, replace_agents, expires_at FROM enrollment_secrets")
        ).one()
        token = conn.execute(sa.text("SELECT role, expires_at FROM api_tokens")).one()
    assert tuple(secret) == (0, None, 0, None)
    assert tuple(token) == ("admin", None)
    db.dispose()
