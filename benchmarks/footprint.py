"""Shared measuring for the footprint benchmarks: CPU time and peak RSS of a command.

``os.wait4`` returns the resource usage of the child *and* of its descendants it waited for,
so tools that spawn helpers (fusioninventory runs dmidecode, lspci, …; the agent runs
dpkg-query) are charged for them too.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    cpu_s: float
    peak_rss_mib: float
    wall_s: float
    stdout: bytes


def measure(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    t0 = time.monotonic()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode}")
    # ru_maxrss is in KiB on Linux: the largest resident set among the process and the
    # descendants it waited for.
    return Run(
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,
        wall_s=time.monotonic() - t0,
        stdout=out,
    )


def medians(runs: Sequence[Run]) -> tuple[float, float, float]:
    return (
        statistics.median(r.cpu_s for r in runs),
        statistics.median(r.peak_rss_mib for r in runs),
        statistics.median(r.wall_s for r in runs),
    )
