"""The ``--database-url`` option that every collector command takes, and the database it
opens: one definition for the main CLI and its ssh, findings and budget commands."""

from __future__ import annotations

import argparse

from collector.db import Database
from collector.settings import Settings


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (env INVENTAR_DATABASE_URL; default sqlite:///var/inventar.db)",
    )


def database_parent() -> argparse.ArgumentParser:
    """A parent parser holding the option (``parents=[...]`` of each subcommand)."""
    parent = argparse.ArgumentParser(add_help=False)
    add_database_option(parent)
    return parent


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings (environment, .env), with ``--database-url`` over them when given."""
    url = getattr(args, "database_url", None)
    return Settings(**({"database_url": url} if url else {}))


def database_from(args: argparse.Namespace, settings: Settings | None = None) -> Database:
    """The database of these arguments, migrated first where the settings say so (SQLite)."""
    settings = settings or settings_from(args)
    db = Database(settings.database_url, settings.db_pool_size)
    if settings.should_migrate:
        db.upgrade()
    return db
