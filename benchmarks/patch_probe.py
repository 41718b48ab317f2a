"""CPU time and peak memory of the patches probe against node_exporter's apt_info.py.

Run from the project root:  .venv/bin/python benchmarks/patch_probe.py [--runs 5]

Each measured command runs in a fresh process; its CPU time (user + system) and peak RSS
come from os.wait4, which accounts the process together with the children it waited for
(apt, apt-config). Peak RSS is the largest single process of that tree, not a sum.

Variants:
  ours               the probe as it runs on this machine as configured
  ours+agent-cache   the probe with its apt cache directory present (systemd
                     CacheDirectory=inventar); warmed by one untimed run
  apt_info.py        /usr/share/prometheus-node-exporter-collectors/apt_info.py
  apt_info.py+cache  the same, given an equally warm apt cache through APT_CONFIG, so that
                     the comparison with ours+agent-cache is like for like
and, to show where the probe's time goes: the interpreter importing the probe, the probe's
one apt command (`apt-cache policy` for the installed packages) alone, and `apt list
--upgradable` (what the probe ran before) alone. "ours" is a cold run: the patch state
cache (agent/patch_cache.py) is not involved; with unchanged sources the service does not
run the probe at all (benchmarks/agent_day.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.parsers import apt

ROOT = Path(__file__).resolve().parent.parent
APT_INFO = "/usr/share/prometheus-node-exporter-collectors/apt_info.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # has python3-apt, which apt_info.py needs

PROBE = """
import json, sys
import agent.probes.patches as patches
from agent.context import ErrorLog, LiveCalls, Machine, ProbeContext
from agent.files import RootedFiles
from agent.runner import LocalRunner
if len(sys.argv) > 1:
    patches.APT_CACHE_DIR = sys.argv[1]
errors = ErrorLog()
machine = Machine(LocalRunner(), RootedFiles(), LiveCalls(), "linux")
got = patches.collect_linux(ProbeContext(machine, "patches", errors))
print(json.dumps({"pending": got.pending_count, "security": got.pending_security_count,
                  "errors": errors.entries}))
"""
IMPORT_ONLY = "import agent.probes.patches"


@dataclass
class Sample:
    cpu_s: float
    maxrss_kib: int
    stdout: str


def measure(argv: list[str], env: dict[str, str] | None = None) -> Sample:
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=ROOT, stdin=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed with exit code {proc.returncode}")
    return Sample(usage.ru_utime + usage.ru_stime, usage.ru_maxrss, text)


@dataclass
class Figures:
    label: str
    cpu_s: float
    maxrss_kib: int
    last: Sample


def medians(
    variants: list[tuple[str, list[str], dict[str, str] | None]], runs: int
) -> list[Figures]:
    """Medians of ``runs`` runs of each variant, interleaved (a run of each in turn), so
    that a change in the shared machine's load hits all variants alike."""
    samples: dict[str, list[Sample]] = {label: [] for label, _, _ in variants}
    for _ in range(runs):
        for label, argv, env in variants:
            samples[label].append(measure(argv, env))
    return [
        Figures(
            label,
            statistics.median(s.cpu_s for s in samples[label]),
            int(statistics.median(s.maxrss_kib for s in samples[label])),
            samples[label][-1],
        )
        for label, _, _ in variants
    ]


def apt_info_counts(text: str) -> tuple[int, int]:
    """Sums of apt_upgrades_pending, all and those whose origin label names a -security suite."""
    total = security = 0
    for line in text.splitlines():
        if not line.startswith("apt_upgrades_pending{"):
            continue
        labels, _, value = line.rpartition(" ")
        count = int(float(value))
        total += count
        origin = labels.split('origin="', 1)[1].split('"', 1)[0]
        if any(o.split("/", 1)[-1].endswith("-security") for o in origin.split(",")):
            security += count
    return total, security


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    with tempfile.TemporaryDirectory(prefix="inventar-bench-") as tmp:
        agent_cache = Path(tmp) / "agent-cache"
        agent_cache.mkdir()
        # apt reads $APT_CONFIG before the parts directory, whose docker-clean would undo a
        # pkgcache set there; so point it at a copy of the parts plus one read last.
        parts = Path(tmp) / "apt.conf.d"
        shutil.copytree("/etc/apt/apt.conf.d", parts)
        (parts / "zz-inventar-bench").write_text(
            f'Dir::Cache::pkgcache "{tmp}/apt-info-pkgcache.bin";\n'
        )
        apt_conf = Path(tmp) / "apt.conf"
        apt_conf.write_text(f'Dir::Etc::parts "{parts}";\n')
        cached_env = {**env, "APT_CONFIG": str(apt_conf)}

        # The probe's own apt command: `apt-cache policy` for every installed package.
        status = Path("/var/lib/dpkg/status").read_text(encoding="utf-8")
        policy_argv = ["apt-cache", "policy", "--", *apt.parse_dpkg_status_installed(status)]
        # Warm both private caches once (untimed), as a periodic agent run would find them.
        measure([python, "-c", PROBE, str(agent_cache)], env)
        measure([SYSTEM_PYTHON, APT_INFO], cached_env)

        rows = medians(
            [
                ("ours", [python, "-c", PROBE], env),
                ("ours+agent-cache", [python, "-c", PROBE, str(agent_cache)], env),
                ("apt_info.py", [SYSTEM_PYTHON, APT_INFO], env),
                ("apt_info.py+cache", [SYSTEM_PYTHON, APT_INFO], cached_env),
                ("  python + import probe", [python, "-c", IMPORT_ONLY], env),
                ("  apt-cache policy (probe's)", policy_argv, env),
                ("  apt list --upgradable", ["apt", "list", "--upgradable"], env),
            ],
            args.runs,
        )
        pkgcache_file = agent_cache / "apt-pkgcache.bin"
        cache_size = pkgcache_file.stat().st_size if pkgcache_file.exists() else 0
        if not (Path(tmp) / "apt-info-pkgcache.bin").exists():
            print("warning: apt_info.py did not use the benchmark's apt cache")

    by = {r.label: r for r in rows}
    load = os.getloadavg()
    print(
        f"median of {args.runs} interleaved runs, CPU = user + sys of the process tree, RSS = peak"
    )
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)")
    print(f"{'variant':<26} {'CPU s':>8} {'peak RSS MiB':>13}")
    for r in rows:
        print(f"{r.label:<26} {r.cpu_s:8.3f} {r.maxrss_kib / 1024:13.1f}")

    print()
    print("ratio ours / apt_info.py (goal <= 0.75):")
    plain = by["ours"].cpu_s / by["apt_info.py"].cpu_s
    cached = by["ours+agent-cache"].cpu_s / by["apt_info.py"].cpu_s
    fair = by["ours+agent-cache"].cpu_s / by["apt_info.py+cache"].cpu_s
    print(f"  ours (no apt cache kept, as this machine is configured) {plain:5.2f}")
    print(f"  ours with the agent's apt cache vs apt_info.py as is  {cached:5.2f}")
    print(f"  both with a warm apt cache                             {fair:5.2f}")
    print(f"  (agent's apt cache file: {cache_size / 2**20:.1f} MiB on disk)")

    print()
    ours = json.loads(by["ours"].last.stdout)
    ours_cached = json.loads(by["ours+agent-cache"].last.stdout)
    info_total, info_security = apt_info_counts(by["apt_info.py"].last.stdout)
    print("pending updates      total  security")
    print(f"  ours              {ours['pending']:6} {ours['security']:9}")
    print(f"  ours+agent-cache  {ours_cached['pending']:6} {ours_cached['security']:9}")
    print(f"  apt_info.py       {info_total:6} {info_security:9}")
    agree = (
        (ours["pending"], ours["security"])
        == (info_total, info_security)
        == (
            ours_cached["pending"],
            ours_cached["security"],
        )
    )
    print(f"  counts agree: {'yes' if agree else 'NO'}")
    if ours["errors"]:
        print(f"  probe errors: {ours['errors']}")


if __name__ == "__main__":
    main()
