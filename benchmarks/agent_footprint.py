"""Agent footprint vs fusioninventory-agent: a full inventory without patches, side by side.

Run: ``make bench`` or ``.venv/bin/python benchmarks/agent_footprint.py [--runs 5]``.
Needs Debian's ``fusioninventory-agent`` package (``fusioninventory-inventory``).
Goals: CPU ≤ 0.45×, peak RSS ≤ 0.55× (issue "agent's cost over a day"; before: 0.5× and
0.6×), gzip'd report ≤ 0.5× of fusioninventory's, as medians of 5 runs.

The agent runs from bytecode, as an installed one does (pip compiles a wheel's modules at
install): the agent package is byte-compiled first (``__pycache__``, ignored by git). In a
checkout run with PYTHONDONTWRITEBYTECODE=1 (as this development machine's shells are) it
would otherwise compile its ~60 modules from source on every run, ~40 ms of CPU that no
installed agent spends; ``--no-bytecode`` measures that case (stale bytecode removed).
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.footprint import Run, measure, medians

ROOT = Path(__file__).resolve().parent.parent

AGENT = [sys.executable, "-m", "agent", "collect", "--skip", "patches"]
FUSION = ["fusioninventory-inventory"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--no-bytecode", action="store_true", help="run the agent from source, compiling it"
    )
    args = parser.parse_args()
    if shutil.which(FUSION[0]) is None:
        print("fusioninventory-inventory not found: apt-get install fusioninventory-agent")
        return 2
    if args.no_bytecode:
        for cache in (ROOT / "agent").rglob("__pycache__"):
            shutil.rmtree(cache)
    elif not compileall.compile_dir(ROOT / "agent", quiet=1):
        print("byte-compiling the agent failed")
        return 2
    ours: list[Run] = []
    theirs: list[Run] = []
    # Interleaved, so that a change in machine load hits both alike.
    for _ in range(args.runs):
        ours.append(measure(AGENT))
        theirs.append(measure(FUSION))
    o_cpu, o_rss, o_wall = medians(ours)
    f_cpu, f_rss, f_wall = medians(theirs)
    o_gz = len(gzip.compress(ours[-1].stdout, 6))
    f_gz = len(gzip.compress(theirs[-1].stdout, 6))
    load = os.getloadavg()
    print(
        f"full inventory without patches, medians of {args.runs} runs; the agent from "
        + ("source (compiled on each run)" if args.no_bytecode else "bytecode (as installed)")
    )
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)")
    print(f"{'':24}{'inventar-agent':>16}{'fusioninventory':>17}{'ratio':>8}{'goal':>7}")
    rows = [
        ("CPU time (s)", o_cpu, f_cpu, 0.45),
        ("peak RSS (MiB)", o_rss, f_rss, 0.55),
        ("gzip'd report (KiB)", o_gz / 1024, f_gz / 1024, 0.5),
        ("wall time (s)", o_wall, f_wall, None),
    ]
    ok = True
    for name, a, b, goal in rows:
        ratio = a / b if b else float("inf")
        verdict = "" if goal is None else (" ok" if ratio <= goal else " MISSED")
        ok &= goal is None or ratio <= goal
        goal_txt = "" if goal is None else f"≤{goal}"
        print(f"{name:24}{a:16.3f}{b:17.3f}{ratio:8.2f}{goal_txt:>7}{verdict}")
    print(f"raw report sizes: {len(ours[-1].stdout)} B JSON vs {len(theirs[-1].stdout)} B XML")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
