"""Report decoding in worker processes, beside the event loop.

Inflating, parsing, validating and hashing a report is about half of its CPU cost, and all
of it is Python holding the GIL: in the serving process it runs on one core whatever the
machine has. Worker processes (``python -m collector.decode_pool``) take that part, so
that the serving process is left with HTTP and the database write (benchmarks/ingest.py).

On PostgreSQL the workers store the reports they decode as well (collector.worker_store):
:meth:`DecodePool.store` sends a report with its agent and gets the store's outcome back,
so that storing runs on every core too. The reports of one host go to one worker.

Each worker talks over its own Unix socket pair: length-prefixed ``marshal`` frames (the
request body in, a DecodedReport's wire tuple, a store's outcome or a refusal out), answered
in order. The pool is only an accelerator: while a worker is gone or starting,
:meth:`DecodePool.decode` and :meth:`DecodePool.store` raise :class:`WorkerUnavailable` and
the caller decodes (and stores) in its own process; a worker that dies is started again. A
report whose worker died after storing it is then stored again by the caller: its receipt
makes it a duplicate, answered as such.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import marshal
import os
import queue
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from collector import reference_cache
from collector.limits import Limits
from collector.report_decoding import BadReport, DecodedReport, decode

if TYPE_CHECKING:  # a decode-only worker stays without the database layer
    from collector.ingest import AgentIdentity, StoreResult
    from collector.worker_store import WorkerStore

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
STARTUP_SECONDS = 60.0
RESTART_DELAY_SECONDS = 1.0
# The database a storing worker connects to: in its environment, not on its command line
# (which every user of the machine can read, and a URL may hold a password).
DATABASE_URL_ENV = "INVENTAR_WORKER_DATABASE_URL"
STATEMENT_TIMEOUT_ENV = "INVENTAR_WORKER_STATEMENT_TIMEOUT"


class WorkerUnavailable(Exception):
    """No worker can take the report now: decode it in this process instead."""


class StoreUnavailable(Exception):
    """The worker could not store the report: the database is unavailable (answered 503)."""


def default_size(*, storing: bool = False) -> int:
    """Decoding only: one worker per core beyond the first (the event loop's). Storing too
    (PostgreSQL): one per core, for the store is most of a report's work. At most four."""
    cores = os.cpu_count() or 1
    return max(0, min(4, cores if storing else cores - 1))


# --- the serving process's side -------------------------------------------------------


class _Worker:
    def __init__(
        self, limits: Limits, on_exit: Callable[[_Worker], None], env: dict[str, str] | None
    ) -> None:
        self.limits = limits
        self.on_exit = on_exit
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.reading: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.reading is not None and not self.reading.done()

    async def start(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "collector.decode_pool", str(theirs.fileno()),
                str(self.limits.max_body_bytes), str(self.limits.max_decompressed_bytes),
                str(self.limits.max_json_depth),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL, env=self.env,
            )  # fmt: skip
        finally:
            theirs.close()
        reader, self.writer = await asyncio.open_unix_connection(sock=ours)
        hello = await asyncio.wait_for(_read_frame(reader), STARTUP_SECONDS)
        if hello != ("ready",):
            raise RuntimeError(f"decode worker said {hello!r} instead of ready")
        self.reading = asyncio.create_task(self._read_answers(reader))

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                answer = await _read_frame(reader)
                future = self.waiting.popleft()
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            gone = WorkerUnavailable(f"decode worker ended ({exc.__class__.__name__})")
            while self.waiting:
                future = self.waiting.popleft()
                if not future.done():
                    future.set_exception(gone)
            self.on_exit(self)

    async def request(self, request: tuple[Any, ...]) -> Any:
        """Sends (body, encoding, digest[, agent]) and waits for the answer."""
        assert self.writer is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        payload = marshal.dumps(request)
        self.writer.write(_HEADER.pack(len(payload)) + payload)
        return await future

    async def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()  # the worker ends at the end of its input
        if self.process is not None:
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.reading is not None:
            self.reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reading


class DecodePool:
    """``size`` decode worker processes; start() and stop() from the serving event loop.
    With ``database_url`` (PostgreSQL) they store reports too (:meth:`store`)."""

    def __init__(
        self,
        size: int,
        limits: Limits,
        *,
        database_url: str | None = None,
        statement_timeout: float | None = None,
    ) -> None:
        self.limits = limits
        self.stores = database_url is not None
        env = None
        if database_url is not None:
            env = {**os.environ, DATABASE_URL_ENV: database_url}
            if statement_timeout:
                env[STATEMENT_TIMEOUT_ENV] = str(statement_timeout)
        self.workers = [_Worker(limits, self._restart_later, env) for _ in range(size)]
        self._restarts: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.exits = 0  # workers that ended while the pool ran

    @property
    def running(self) -> int:
        return sum(1 for worker in self.workers if worker.ready)

    async def start(self) -> None:
        await asyncio.gather(*(self._start(worker) for worker in self.workers))

    async def _start(self, worker: _Worker) -> None:
        try:
            await worker.start()
        except Exception:
            log.exception("decode worker did not start; reports are decoded in-process")
            await worker.stop()

    async def decode(self, body: bytes, encoding: str | None, digest: str = "") -> DecodedReport:
        """The decoded report, or BadReport (4xx) as decode() in this process would raise;
        its derived facts computed with the reference data of ``digest`` (this process's),
        where the worker has the same.

        Raises WorkerUnavailable when no worker can answer.
        """
        ready = [worker for worker in self.workers if worker.ready]
        if not ready:
            raise WorkerUnavailable("no decode worker is running")
        worker = min(ready, key=lambda w: len(w.waiting))
        answer = await worker.request((body, encoding, digest))
        if answer[0] == "ok":
            return DecodedReport.from_wire(answer[1])
        raise _refusal(answer)

    async def store(
        self, body: bytes, encoding: str | None, digest: str, agent: AgentIdentity
    ) -> StoreResult:
        """Decodes and stores the report of ``agent`` in a worker (only when the pool
        stores): its StoreResult once committed, or BadReport as storing in this process
        would raise, or StoreUnavailable (the database).

        Raises WorkerUnavailable when no worker can answer (or its worker ended meanwhile:
        the report may be stored or not; storing it again is safe).
        """
        # The host's own worker, as long as it runs: a host's reports in one writer.
        worker = self.workers[hash(agent.machine_id) % len(self.workers)]
        if not worker.ready:
            ready = [worker for worker in self.workers if worker.ready]
            if not ready:
                raise WorkerUnavailable("no decode worker is running")
            worker = min(ready, key=lambda w: len(w.waiting))
        identity = (agent.id, agent.machine_id, agent.site_id, agent.org_id)
        answer = await worker.request((body, encoding, digest, identity))
        if answer[0] == "stored":
            from collector.ingest import StoreResult  # noqa: PLC0415  (see TYPE_CHECKING)

            _, status, report_id, host_id, changed = answer
            return StoreResult(status, report_id, host_id, list(changed))
        if answer[0] == "unavailable":
            raise StoreUnavailable(answer[1])
        raise _refusal(answer)

    def _restart_later(self, worker: _Worker) -> None:
        if self._stopping:
            return
        self.exits += 1

        async def restart() -> None:
            await worker.stop()
            code = worker.process.returncode if worker.process is not None else None
            log.warning("decode worker ended (exit status %s); starting another", code)
            await asyncio.sleep(RESTART_DELAY_SECONDS)
            if not self._stopping:
                await self._start(worker)

        task = asyncio.create_task(restart())
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*(worker.stop() for worker in self.workers))


def _refusal(answer: tuple[Any, ...]) -> Exception:
    if answer[0] == "bad":
        return BadReport(answer[1], answer[2], answer[3])
    return RuntimeError(f"decode worker failed: {answer[1]}")


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return marshal.loads(await reader.readexactly(size))


# --- the worker process ---------------------------------------------------------------


def answer_for(
    body: bytes, encoding: str | None, limits: Limits, digest: str = ""
) -> tuple[Any, ...]:
    """What a worker sends back for one request body (a marshal-able tuple); ``digest`` is
    the serving process's reference data (collector.reference_cache.basis_for)."""
    try:
        basis = reference_cache.basis_for(digest)
        return ("ok", decode(body, encoding, limits, basis).to_wire())
    except BadReport as exc:
        return ("bad", exc.status, exc.message, exc.errors)
    except Exception as exc:  # the serving process logs it and answers 500, as in-process
        return ("error", f"{exc.__class__.__name__}: {exc}"[:500])


def serve(conn: socket.socket, limits: Limits, store: WorkerStore | None = None) -> None:
    """Answer requests in order until the serving process closes the socket. ``store``: for
    requests that carry an agent (PostgreSQL)."""
    reading, writing = conn.makefile("rb"), conn.makefile("wb")
    _write_frame(writing, ("ready",))
    if store is None:
        for body, encoding, digest, *_ in _requests(reading):
            _answer(writing, answer_for(body, encoding, limits, digest))
        return
    from collector.worker_store import answer_of  # noqa: PLC0415  (storing workers only)

    # The answers in order, by a thread of their own: while a store waits for its batch to
    # commit, the next reports are decoded and join the batch after it.
    pending: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def answer_all() -> None:
        while (item := pending.get()) is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                _answer(writing, answer_of(item))

    answering = threading.Thread(target=answer_all, name="answers")
    answering.start()
    try:
        for body, encoding, digest, *agent in _requests(reading):
            if agent:
                pending.put(store.submit(body, encoding, limits, digest, agent[0]))
            else:
                pending.put(answer_for(body, encoding, limits, digest))
    finally:
        store.stop()  # stores what is queued
        pending.put(None)
        answering.join()


def _requests(stream: BinaryIO) -> Iterator[Any]:
    """The requests from the serving process, until it closes the socket."""
    while header := stream.read(_HEADER.size):
        if len(header) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(header)
        request = stream.read(size)
        if len(request) < size:
            return
        yield marshal.loads(request)


def _answer(stream: BinaryIO, answer: tuple[Any, ...]) -> None:
    try:
        _write_frame(stream, answer)
    except ValueError as exc:  # a value marshal cannot carry: a bug, answered as such
        _write_frame(stream, ("error", f"answer not sendable: {exc}"))


def _write_frame(stream: Any, value: Any) -> None:
    payload = marshal.dumps(value)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def main(argv: list[str]) -> int:
    # Ctrl-C on `make run` reaches the whole process group: the serving process decides
    # when to stop, and closing the socket ends this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd, max_body, max_decompressed, max_depth = (int(arg) for arg in argv)
    conn = socket.socket(fileno=fd)
    store = None
    url = os.environ.pop(DATABASE_URL_ENV, None)
    if url:
        from collector.worker_store import WorkerStore  # noqa: PLC0415  (storing workers only)

        timeout = os.environ.get(STATEMENT_TIMEOUT_ENV)
        store = WorkerStore(url, float(timeout) if timeout else None)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        serve(conn, Limits(max_body, max_decompressed, max_depth), store)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
