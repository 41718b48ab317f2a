"""Giving memory back to the system: one malloc arena, and free heap returned after a job.

The service sleeps most of the day. A job (a full inventory with its software list, the
delta base, the probes' threads) leaves freed memory in glibc's heaps, and glibc keeps it
(resident) for the next allocation rather than returning it; ``malloc_trim(0)`` returns
what is free. Measured by ``benchmarks/agent_day.py``: a few MiB between jobs, at well under
a millisecond per job. glibc also gives each thread that allocates its own arena (the
probes run in four threads), each keeping its own free memory; the agent's threads mostly
wait for commands and files, so one arena for all costs nothing measurable and saves about
2 MiB of a full inventory's peak (``benchmarks/agent_footprint.py``). Elsewhere (musl,
Windows, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

M_ARENA_MAX = -8  # glibc's malloc.h


def _libc_function(name: str) -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The process's own symbols, libc's among them (find_library would run ldconfig).
        fn: Callable[..., int] = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError, TypeError):  # not glibc
        return None
    return fn


_trim = _libc_function("malloc_trim")


def one_arena() -> None:
    """Makes every thread allocate from the main arena; call before threads start."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(M_ARENA_MAX, 1)


def release() -> None:
    """Hands free heap memory back to the system. (No ``gc.collect()``: with every module
    loaded a full collection costs milliseconds, and the jobs leave few cycles.)"""
    if _trim is not None:
        _trim(0)
