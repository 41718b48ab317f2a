"""Running a job in a short-lived child process (fork), so that what it imports and
allocates leaves with the child instead of staying in the service between jobs.

A full inventory imports its probes and parsers and leaves a fragmented heap; a discovery
imports scapy. In a forked child that is gone when the child exits, and the service's
memory between jobs stays what its own imports take (``benchmarks/agent_day.py``). The
child inherits the service's modules (nothing is imported again) and hands back a small
JSON result through a pipe. A fork costs a few milliseconds of CPU on top of the job, so
only the rare, heavy jobs run in a child; a child that hangs past its deadline is killed,
where a hung thread could not be.

Where there is no ``fork`` (Windows), the job runs in the calling process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

AVAILABLE = hasattr(os, "fork")
_MAX_RESULT = 1 << 20


class ChildFailed(Exception):
    """The child died, hung past its deadline, or gave no result."""


class ChildStopped(ChildFailed):
    """The child ended because the service is stopping (stop_children)."""


def run(job: Callable[[], Any], deadline_s: float) -> Any:
    """``job()`` in a forked child; its JSON-able result. An exception in the child comes
    back as ChildFailed with its text. Without fork, ``job()`` here."""
    if not AVAILABLE:
        return job()
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no memory or no process left for a child: the job fails, no fd leaks
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(job, write_fd)
    os.close(write_fd)
    _current.add(pid)
    try:
        data = _read_result(read_fd, pid, deadline_s)
        _, status = os.waitpid(pid, 0)
    finally:
        _current.discard(pid)
        os.close(read_fd)
    code = os.waitstatus_to_exitcode(status)
    if not data and _stopping:
        raise ChildStopped("the job was stopped with the service")
    if not data:
        raise ChildFailed(f"the job's process ended without a result (exit status {code})")
    answer = json.loads(data)
    if "error" in answer:
        raise ChildFailed(str(answer["error"]))
    return answer["result"]


# The children running now: stop_children() ends them with the service.
_current: set[int] = set()
_stopping = False


def stop_children(signum: int = signal.SIGTERM) -> None:
    """Forwards a stop to the running child (safe in a signal handler)."""
    global _stopping  # noqa: PLW0603  (set once, when the service stops)
    _stopping = True
    for pid in list(_current):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _child(job: Callable[[], Any], write_fd: int) -> None:
    code = 0
    try:
        # The service's handlers stop the service; a child just ends on a stop.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            answer: dict[str, Any] = {"result": job()}
        except BaseException as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
            code = 1
        data = json.dumps(answer).encode()
        with os.fdopen(write_fd, "wb") as out:
            out.write(data)
        sys.stderr.flush()
    except BaseException:
        code = 2
    finally:
        # No interpreter teardown: the parent's atexit handlers and buffers are not ours.
        os._exit(code)


def _read_result(fd: int, pid: int, deadline_s: float) -> bytes:
    """Reads the child's answer until it closes the pipe; kills it at the deadline."""
    chunks: list[bytes] = []
    size = 0
    end = time.monotonic() + deadline_s
    while True:
        left = end - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise ChildFailed(f"the job did not finish within {deadline_s:g} s; it was stopped")
        ready, _, _ = select.select([fd], [], [], min(left, 60.0))
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > _MAX_RESULT:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise ChildFailed("the job's result is too large")
        chunks.append(chunk)
