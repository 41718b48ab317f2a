"""Engine, sessions and migrations (Alembic) for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"

# SQLite has one writer at a time; in one process a lock queues writers instead of letting
# them spin on SQLITE_BUSY. Across processes (an import while serving) busy_timeout waits.
_sqlite_write_lock = threading.Lock()


# Connecting to an unreachable PostgreSQL fails after this instead of hanging a request.
CONNECT_TIMEOUT_SECONDS = 5
# Waiting for a free pooled connection (all busy: the database is slow or gone) fails after
# this: the request is answered 503 (collector.unavailable) rather than queued for long.
POOL_TIMEOUT_SECONDS = 10


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        # PostgreSQL's statement_timeout of new connections, in seconds (None: the server's).
        # ``serve`` sets it (collector.main), migrations and CLI jobs do not.
        self.statement_timeout: float | None = None
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self._ensure_sqlite_dir(url)
            self.engine = sa.create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_timeout=POOL_TIMEOUT_SECONDS,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
            )
            sa.event.listen(self.engine, "connect", self._postgres_session)

    def limit_statements(self, seconds: float | None) -> None:
        """Sets the statement timeout of connections made from now on (pooled ones are
        dropped, so every connection has it)."""
        self.statement_timeout = seconds
        if not self.is_sqlite:
            self.engine.dispose()

    def _postgres_session(self, dbapi_conn: Any, _record: Any) -> None:
        if self.statement_timeout is None:
            return
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET statement_timeout = {int(self.statement_timeout * 1000)}")
        dbapi_conn.autocommit = autocommit

    @staticmethod
    def _ensure_sqlite_dir(url: str) -> None:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session for one write transaction (committed by the caller)."""
        if self.is_sqlite:
            with _sqlite_write_lock, self.session() as session:
                yield session
        else:
            with self.session() as session:
                yield session

    def write_lock(self) -> AbstractContextManager[object]:
        """What a writer holds around its transaction: SQLite's one-writer lock, else
        nothing."""
        return _sqlite_write_lock if self.is_sqlite else nullcontext()

    @contextmanager
    def core_write(self) -> Iterator[CoreWrite]:
        """A write transaction for SQLAlchemy Core statements only (the ingest hot path)."""
        with self.write_lock(), self.engine.connect() as conn:
            yield CoreWrite(conn)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def upgrade(self) -> None:
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def lock_for_transaction(conn: sa.Connection, *key: object) -> None:
    """Serializes transactions that name the same ``key`` until the transaction ends:
    a PostgreSQL advisory transaction lock; nothing on SQLite, whose writers are serialized
    already (one writer at a time)."""
    if conn.dialect.name != "postgresql":
        return
    text = "\x1f".join(str(part) for part in key)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


class CoreWrite:
    """One Connection's transaction with the Session methods a writer uses (connection,
    commit, rollback), so that code written for a Session runs on it too. A Session around
    Core statements costs more than SQLite takes to write a report (benchmarks/ingest.py)."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def connection(self) -> sa.Connection:
        return self._conn

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Applies the migrations on ``engine``'s database (idempotent)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
