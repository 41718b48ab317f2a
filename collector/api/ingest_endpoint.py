"""POST /api/v1/reports as a plain ASGI endpoint: the one hot path skips the framework.

Every agent of a town sends here several times an hour. Routed through FastAPI (dependency
resolution, request/response models, three middleware layers) a report cost more than twice
what validating and storing it costs (benchmarks/ingest.py), so this endpoint speaks ASGI
directly, and its decoding goes to the decode pool's worker processes where they run. It
answers exactly as the rest of the API does: JSON bodies with ``detail``, 401 with
``WWW-Authenticate: Bearer``, 413 for oversize bodies. Its OpenAPI description stays with
the FastAPI route in routes/reports.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from collector import reference_cache
from collector.api.drain import drain
from collector.db import Database
from collector.decode_pool import DecodePool, StoreUnavailable, WorkerUnavailable
from collector.findings import notify
from collector.group_commit import GroupCommit, WriterStopping
from collector.ingest import AgentIdentity, StoreResult, check_machine, find_agent, store_decoded
from collector.limits import Limits
from collector.metrics import Metrics
from collector.report_decoding import BadReport, DecodedReport, decode
from collector.security import MAX_TOKEN_LENGTH, hash_secret
from collector.settings import Settings
from collector.unavailable import DETAIL as UNAVAILABLE
from collector.unavailable import database_unavailable, retry_after_header

log = logging.getLogger(__name__)

REPORTS_PATH = "/api/v1/reports"

# Ingest is CPU-bound Python (validation, hashing) plus short database writes: more threads
# than cores only contend for the GIL.
_INGEST_THREADS = CapacityLimiter(2)


class Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AgentCache:
    """Enrolled agents by token hash, so that a report does not cost a lookup of its sender.

    Safe to keep for a while: what an agent is (machine, site) never changes, and revocation
    is checked again inside every report's write transaction (collector.ingest.store), which
    then drops the entry here. Bounded as a least-recently-used cache: past ``max_entries``
    the agent not heard from longest is dropped, one at a time - a Land's 100,000s of agents
    cost a database lookup (by the token hash's unique index) only when evicted, never all
    at once as a full flush would.
    """

    MAX_ENTRIES = 50_000

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._agents: OrderedDict[tuple[int, str], AgentIdentity] = OrderedDict()
        # Ingest threads and the event loop use the cache at once.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._agents)

    def cached(self, db: Database, token_hash: str) -> AgentIdentity | None:
        key = (id(db), token_hash)
        with self._lock:
            agent = self._agents.get(key)
            if agent is not None:
                self._agents.move_to_end(key)
            return agent

    def get(self, db: Database, token_hash: str) -> AgentIdentity | None:
        """The agent, from the cache or else from the database."""
        agent = self.cached(db, token_hash)
        if agent is None:
            with db.engine.connect() as conn:
                agent = find_agent(conn, token_hash)
            if agent is not None:
                with self._lock:
                    self._agents[(id(db), token_hash)] = agent
                    while len(self._agents) > self.max_entries:
                        self._agents.popitem(last=False)
        return agent

    def forget(self, db: Database, token_hash: str) -> None:
        with self._lock:
            self._agents.pop((id(db), token_hash), None)


_agents = AgentCache()


def ingest(
    db: Database, token_hash: str, body: bytes, encoding: str | None, limits: Limits
) -> StoreResult:
    """Auth, decode, validate, store: everything a report needs, in the calling thread."""
    agent = _agents.get(db, token_hash)
    if agent is None:
        raise Unauthorized("invalid or revoked agent token")
    decoded = decode(body, encoding, limits, reference_cache.basis())
    return store_for(db, agent, token_hash, decoded)


def store_for(
    db: Database, agent: AgentIdentity, token_hash: str, decoded: DecodedReport
) -> StoreResult:
    """Stores a decoded report of ``agent`` in one write transaction."""
    check_machine(agent, decoded)
    try:
        with db.core_write() as tx:
            result = store_decoded(
                tx, decoded, site_id=agent.site_id, org_id=agent.org_id, agent_id=agent.id
            )
    except BadReport as exc:
        if exc.status == 401:  # revoked since it was cached
            _agents.forget(db, token_hash)
        raise
    notify(db, result.host_id)  # findings: only queues the host for the background evaluator
    return result


async def store_grouped(
    writer: GroupCommit, db: Database, agent: AgentIdentity, token_hash: str,
    decoded: DecodedReport,
) -> StoreResult:  # fmt: skip
    """store_for through the group commit (PostgreSQL): answered once its batch committed."""
    check_machine(agent, decoded)
    try:
        return await asyncio.wrap_future(writer.submit(agent, decoded))
    except BadReport as exc:
        if exc.status == 401:  # revoked since it was cached
            _agents.forget(db, token_hash)
        raise


def bearer_token_hash(authorization: bytes | None) -> str:
    if not authorization:
        raise Unauthorized("missing bearer token")
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized("invalid token")
    return hash_secret(token)


class IngestEndpoint:
    """Serves POST /api/v1/reports; passes every other request on to ``app``.

    A report is decoded by the decode pool where one runs (collector.decode_pool), else in
    this process, and stored in this process.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        db: Database,
        metrics: Metrics,
        *,
        pool: DecodePool | None = None,
        writer: GroupCommit | None = None,
    ) -> None:
        self.app = app
        self.db = db
        self.metrics = metrics
        self.pool = pool
        self.writer = writer
        self.limits = settings.limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != REPORTS_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            token_hash = bearer_token_hash(headers.get(b"authorization"))
            body = await self._body(headers, receive)
            if body is None:
                # Read the rest first: closing on a client still sending resets the
                # connection, and the client never sees this answer.
                await drain(receive)
                await _answer(
                    send,
                    413,
                    {"detail": f"request body exceeds {self.limits.max_body_bytes} bytes"},
                    close=True,
                )
                self.metrics.reports.labels("rejected").inc()
                return
            encoding = headers.get(b"content-encoding", b"").decode("latin-1") or None
            started = time.perf_counter()
            agent = await self._agent(token_hash)
            result = await self._store_in_worker(body, encoding, agent, token_hash)
            if result is None:
                decoded = await self._decode(body, encoding)
                if self.writer is not None:
                    result = await store_grouped(self.writer, self.db, agent, token_hash, decoded)
                else:
                    result = await anyio.to_thread.run_sync(
                        store_for, self.db, agent, token_hash, decoded, limiter=_INGEST_THREADS
                    )
            self.metrics.ingest_seconds.observe(time.perf_counter() - started)
        except Unauthorized as exc:
            self.metrics.reports.labels("unauthorized").inc()
            await _answer(
                send, 401, {"detail": exc.message}, extra=[(b"www-authenticate", b"Bearer")]
            )
            return
        except BadReport as exc:
            self.metrics.reports.labels("rejected").inc()
            await _answer(send, exc.status, exc.body())
            return
        except Exception as exc:
            self.metrics.reports.labels("error").inc()
            if not database_unavailable(exc) and not isinstance(
                exc, WriterStopping | StoreUnavailable
            ):
                raise
            # The agent keeps the report and sends it again (a 4xx would make it drop it).
            log.warning("report not stored, database unavailable: %s",
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)  # fmt: skip
            await _answer(send, 503, {"detail": UNAVAILABLE}, extra=[retry_after_header()])
            return
        self.metrics.reports.labels(result.status).inc()
        await _answer(
            send,
            200 if result.status == "duplicate" else 201,
            {
                "status": result.status,
                "report_id": result.report_id,
                "host_id": result.host_id,
                "changed_sections": result.changed_sections,
            },
        )

    async def _agent(self, token_hash: str) -> AgentIdentity:
        """The enrolled agent behind the token; checked before any work on the body."""
        agent = _agents.cached(self.db, token_hash)
        if agent is None:
            if self.db.is_sqlite:
                agent = _agents.get(self.db, token_hash)
            else:
                agent = await anyio.to_thread.run_sync(_agents.get, self.db, token_hash)
        if agent is None:
            raise Unauthorized("invalid or revoked agent token")
        return agent

    async def _store_in_worker(
        self, body: bytes, encoding: str | None, agent: AgentIdentity, token_hash: str
    ) -> StoreResult | None:
        """The report decoded and stored by a decode worker (PostgreSQL); None where none
        can (then this process does both)."""
        if self.pool is None or not self.pool.stores:
            return None
        try:
            result = await self.pool.store(body, encoding, reference_cache.basis().digest, agent)
        except WorkerUnavailable:
            return None
        except BadReport as exc:
            if exc.status == 401:  # revoked since it was cached
                _agents.forget(self.db, token_hash)
            raise
        if result.status == "stored":
            notify(self.db, result.host_id)  # the findings evaluator runs in this process
        return result

    async def _decode(self, body: bytes, encoding: str | None) -> DecodedReport:
        basis = reference_cache.basis()
        if self.pool is not None:
            try:
                return await self.pool.decode(body, encoding, basis.digest)
            except WorkerUnavailable:
                pass  # decoded here instead: slower, and the same answer
        if self.db.is_sqlite:
            return decode(body, encoding, self.limits, basis)
        return await anyio.to_thread.run_sync(
            decode, body, encoding, self.limits, basis, limiter=_INGEST_THREADS
        )

    async def _body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes | None:
        """The request body, or None when it exceeds the limit (by header or while read)."""
        limit = self.limits.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


async def _answer(
    send: Send,
    status: int,
    payload: dict[str, Any],
    extra: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
