"""The migrations build exactly the schema that collector/models.py declares, on SQLite and
PostgreSQL: a column added to a model without a migration (or the other way round) fails here
instead of on an admin's database."""

from __future__ import annotations

import datetime as dt
import json
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


def test_0014_converts_the_raw_reports_into_history(tmp_path: Path) -> None:
    """A host's raw reports at 0007 become a snapshot, the changes between them and
    receipts; the current state stays; the past states rebuild from the history."""
    from collector.db import upgrade
    from collector.history import Rebuilder, received_reports
    from tests.collector.helpers import make_report

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db.engine, "0007_current_state")
    now = dt.datetime.now(dt.UTC)
    first = make_report("m-old", software=3, collected_at=now - dt.timedelta(days=60))
    second = make_report("m-old", software=3, collected_at=now - dt.timedelta(days=1))
    second["software"][0]["version"] = "7.0"
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sites (name, kind, org_id, created_at) "
                             "VALUES ('s', 'school', 1, '2025-01-01')"))  # fmt: skip
        conn.execute(
            sa.text("INSERT INTO hosts (org_id, site_id, machine_id, first_seen, last_seen, "
                    "last_report_id, section_hashes) VALUES (1, 1, 'm-old', :t, :t, :r, '{}')"),
            {"t": now, "r": second["report_id"]},
        )  # fmt: skip
        for report in (first, second):
            when = dt.datetime.fromisoformat(report["collected_at"])
            conn.execute(
                sa.text("INSERT INTO reports (report_id, host_id, schema_version, collected_at, "
                        "received_at, source, size_bytes, changed_sections, raw) VALUES "
                        "(:r, 1, 1, :t, :t, 'agent', 0, '[]', :raw)"),
                {"r": report["report_id"], "t": when.replace(tzinfo=None),
                 "raw": json.dumps(report)},
            )  # fmt: skip
        conn.execute(
            sa.text("INSERT INTO host_sections (host_id, section, data, agent_hash) "
                    "VALUES (1, 'software', :d, '')"),
            {"d": json.dumps(second["software"])},
        )  # fmt: skip
    db.upgrade()
    with db.engine.connect() as conn:
        reports = received_reports(conn, 1)
        # The older report is past the receipts' 45 days: only its history row lists it.
        assert [r.report_id for r in reports] == [first["report_id"], second["report_id"]]
        assert reports[0].snapshot and reports[1].changed_sections == ["software"]
        changes = conn.execute(sa.text("SELECT section, action, item, old, new "
                                       "FROM host_changes ORDER BY id")).all()  # fmt: skip
        assert tuple(changes[-1]) == ("software", "changed", "pkg0", "1.0", "7.0")
        receipts = conn.execute(sa.text("SELECT count(*) FROM report_receipts")).scalar()
        assert receipts == 1
        assert conn.execute(sa.text("SELECT data FROM host_sections")).scalar() == json.dumps(
            second["software"]
        )
        hashes = conn.execute(sa.text("SELECT stable_hashes FROM hosts")).scalar_one()
        assert "software" in json.loads(hashes)
        rebuilder = Rebuilder(conn, 1, {})
        assert rebuilder.state_after(reports[0])["software"][0]["version"] == "1.0"
        assert rebuilder.state_after(reports[1])["software"][0]["version"] == "7.0"
    assert not sa.inspect(db.engine).has_table("reports")
    db.dispose()
