"""Report decoding in worker processes, beside the event loop.

Inflating, parsing, validating and hashing a report is about half of its CPU cost, and all
of it is Python holding the GIL: in the serving process it runs on one core whatever the
machine has. Worker processes (``python -m collector.decode_pool``) take that part, so
that the serving process is left with HTTP and the database write (benchmarks/ingest.py).

Each worker talks over its own Unix socket pair: length-prefixed ``marshal`` frames (the
request body in, a DecodedReport's wire tuple or a refusal out), answered in order. The
pool is only an accelerator: while a worker is gone or starting, :meth:`DecodePool.decode`
raises :class:`WorkerUnavailable` and the caller decodes in its own process; a worker that
dies is started again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import marshal
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

from collector import reference_cache
from collector.limits import Limits
from collector.report_decoding import BadReport, DecodedReport, decode

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
STARTUP_SECONDS = 60.0
RESTART_DELAY_SECONDS = 1.0


class WorkerUnavailable(Exception):
    """No worker can take the report now: decode it in this process instead."""


def default_size() -> int:
    """One worker per core beyond the first (the event loop's), at most four."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


# --- the serving process's side -------------------------------------------------------


class _Worker:
    def __init__(self, limits: Limits, on_exit: Callable[[_Worker], None]) -> None:
        self.limits = limits
        self.on_exit = on_exit
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
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
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

    async def decode(self, body: bytes, encoding: str | None, digest: str) -> Any:
        assert self.writer is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        payload = marshal.dumps((body, encoding, digest))
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
    """``size`` decode worker processes; start() and stop() from the serving event loop."""

    def __init__(self, size: int, limits: Limits) -> None:
        self.limits = limits
        self.workers = [_Worker(limits, self._restart_later) for _ in range(size)]
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
        answer = await worker.decode(body, encoding, digest)
        if answer[0] == "ok":
            return DecodedReport.from_wire(answer[1])
        if answer[0] == "bad":
            raise BadReport(answer[1], answer[2], answer[3])
        raise RuntimeError(f"decode worker failed: {answer[1]}")

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


def serve(conn: socket.socket, limits: Limits) -> None:
    """Answer requests in order until the serving process closes the socket."""
    stream = conn.makefile("rwb")
    _write_frame(stream, ("ready",))
    while header := stream.read(_HEADER.size):
        if len(header) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(header)
        request = stream.read(size)
        if len(request) < size:
            return
        body, encoding, digest = marshal.loads(request)
        answer = answer_for(body, encoding, limits, digest)
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
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        serve(conn, Limits(max_body, max_decompressed, max_depth))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
