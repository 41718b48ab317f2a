"""`inventar-agent` that stops at one point of a send, so that a test can SIGKILL it there.

    python -m tests.agent_service.paused_agent POINT MARKER_FILE AGENT_ARGS...

runs ``agent.cli.main(AGENT_ARGS)`` (what the console script runs) with one seam of the
agent wrapped: when the agent passes POINT it appends ``POINT PID`` to MARKER_FILE and
sleeps. The seams are the agent's own boundaries, so production code carries no hook:

- ``after-spool``: ``Spool.put`` has returned (the report is durably queued, nothing sent);
- ``after-request``: urllib's opener returned the collector's answer to ``POST
  /api/v1/reports`` (the collector has stored it; the agent has read nothing of it);
- ``after-ack``: ``transport.send_report`` returned (the agent has the acknowledgement but
  has neither saved the delta base nor removed the report from the spool).
"""

from __future__ import annotations

import functools
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from agent import cli, transport
from agent.spool import Spool

REPORTS_SUFFIX = "/api/v1/reports"


def pause(point: str, marker: str) -> None:
    with open(marker, "a", encoding="utf-8") as f:
        f.write(f"{point} {os.getpid()}\n")
    time.sleep(3600)  # the test kills the process meanwhile


def pausing_after(fn: Callable[..., Any], stop: Callable[[], None]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        stop()
        return result

    return wrapped


def install(point: str, marker: str) -> None:
    stop = functools.partial(pause, point, marker)
    if point == "after-spool":
        Spool.put = pausing_after(Spool.put, stop)  # type: ignore[method-assign]
    elif point == "after-ack":
        transport.send_report = pausing_after(transport.send_report, stop)
    elif point == "after-request":
        opened = urllib.request.OpenerDirector.open

        def open_then_pause(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            answer = opened(self, request, *args, **kwargs)
            url = request.full_url if isinstance(request, urllib.request.Request) else request
            if str(url).endswith(REPORTS_SUFFIX):
                stop()
            return answer

        urllib.request.OpenerDirector.open = open_then_pause  # type: ignore[method-assign,assignment]
    else:
        raise SystemExit(f"unknown pause point {point!r}")


def main(argv: list[str]) -> int:
    point, marker, *agent_args = argv
    install(point, marker)
    return cli.main(agent_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
