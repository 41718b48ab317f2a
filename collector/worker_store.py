"""Storing reports in a decode worker process (PostgreSQL): the worker's side.

On PostgreSQL the store of a report (its host's state compared and updated, its history and
change log, ~70 % of what a report costs the serving process) is Python holding the GIL.
In the serving process it runs on one core, whatever the machine has, beside the event loop
(benchmarks/ingest.py: the serving process was the limit of the delta run). So a worker
that decodes a report stores it too, with its own connection and its own group commit
(collector.group_commit): the workers store on all cores, the serving process is left with
HTTP and authentication. Reports of one host go to one worker (collector.decode_pool), as
they would go to one writer; where they do not (a worker replaced meanwhile), PostgreSQL's
transactions keep them apart as they keep replicas' apart. SQLite has one writer: there the
serving process stores, as before.

Each answer is a marshal-able tuple (collector.decode_pool's protocol): ``("stored", status,
report_id, host_id, changed_sections)``, ``("bad", ...)`` as a decode's refusal,
``("unavailable", why)`` when the database is (answered 503, the agent sends again later),
``("error", why)`` for a bug (500).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from typing import Any

from collector import reference_cache
from collector.db import Database
from collector.group_commit import GroupCommit, WriterStopping
from collector.ingest import AgentIdentity, StoreResult, check_machine
from collector.limits import Limits
from collector.report_decoding import BadReport, decode
from collector.unavailable import database_unavailable

# The worker's writer keeps one connection; a second serves what the writer does not (a
# batch stored again report by report after an error).
POOL_SIZE = 2

Answer = tuple[Any, ...]


class WorkerStore:
    """Decodes and stores reports of the serving process's agents."""

    def __init__(self, url: str, statement_timeout: float | None) -> None:
        self.db = Database(url, POOL_SIZE)
        self.db.limit_statements(statement_timeout)
        self.writer = GroupCommit(self.db)

    def submit(
        self,
        body: bytes,
        encoding: str | None,
        limits: Limits,
        digest: str,
        agent: Sequence[Any],
    ) -> Answer | concurrent.futures.Future[StoreResult]:
        """The answer at once (a refusal), or the future of the report's store (answer_of
        turns it into the answer once its batch committed). ``agent``: its id, machine id,
        site id and organization id, as the serving process authenticated it."""
        identity = AgentIdentity(*agent)
        try:
            decoded = decode(body, encoding, limits, reference_cache.basis_for(digest))
            check_machine(identity, decoded)
            return self.writer.submit(identity, decoded)
        except BadReport as exc:
            return ("bad", exc.status, exc.message, exc.errors)
        except WriterStopping as exc:
            return ("unavailable", str(exc))
        except Exception as exc:
            return ("error", f"{exc.__class__.__name__}: {exc}"[:500])

    def stop(self) -> None:
        """Stores what is queued, then lets the connections go."""
        self.writer.stop()
        self.db.dispose()


def answer_of(pending: Answer | concurrent.futures.Future[StoreResult]) -> Answer:
    """The answer to a request, waiting for its store where it is one."""
    if isinstance(pending, tuple):
        return pending
    try:
        result = pending.result()
    except BadReport as exc:
        return ("bad", exc.status, exc.message, exc.errors)
    except WriterStopping as exc:
        return ("unavailable", str(exc))
    except Exception as exc:
        if database_unavailable(exc):
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return ("unavailable", first[:500])
        return ("error", f"{exc.__class__.__name__}: {exc}"[:500])
    return ("stored", result.status, result.report_id, result.host_id, result.changed_sections)
