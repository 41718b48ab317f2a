"""Which failures mean "the database cannot take this now" (unreachable, restarting, locked,
disk full, a statement over its time limit): those are answered ``503`` with
``Retry-After``, never a 4xx - an agent drops a report on a 4xx but keeps and resends it on
a 5xx - and never a hung request. The collector itself needs no restart: the connection
pool pings (``pool_pre_ping``) and replaces broken connections once the database is back.
"""

from __future__ import annotations

import sqlalchemy as sa

# Long enough for a PostgreSQL restart or a freed disk, short enough not to pile up reports
# in the agents' spools; agents retry 5xx answers with their own backoff anyway.
RETRY_AFTER_SECONDS = 30
DETAIL = "the database is unavailable; retry later"


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is the database being unavailable rather than a bug."""
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection free within pool_timeout
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        # OperationalError: connection refused or lost, server shutting down, disk full
        # (PostgreSQL's class 53, SQLite's SQLITE_FULL), SQLite locked, statement timeout.
        return bool(
            exc.connection_invalidated
            or isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
        )
    return False


def retry_after_header() -> tuple[bytes, bytes]:
    return (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
