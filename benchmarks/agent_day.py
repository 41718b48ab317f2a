"""One day of the agent service, time compressed, against a real collector.

Run from the project root:

    .venv/bin/python benchmarks/agent_day.py [--compress 900] [--days 1] [--before REV]

The real service (`inventar-agent run`, live probes of this machine) runs at its default
schedule — status report every 15 min, full inventory and patch refresh every 6 h — with
every interval divided by ``--compress`` (900: a day in 96 s, a status report every second)
and no splay. It reports to a real collector (`inventar-collector serve` on SQLite in a temp
directory) through a counting TCP relay. Printed per day:

- CPU seconds of the agent process and of its child processes, the commands it ran and
  the jobs it forked (user + system of the process and its waited-for children, from
  /proc: psutil's cpu_times);
- peak RSS and peak PSS of the process tree (the service plus any child it runs at that
  moment, sampled every 20 ms; PSS counts a page the service shares with a forked child
  once, RSS twice) and the service's RSS between jobs (sampled while neither it nor a
  child of it used CPU for 100 ms: the median and the largest of those samples);
- bytes sent to the collector (requests, with headers; the relay counts them).

Time compression shortens the waits, not the work: every job does what it does in a real
day, so CPU per day and bytes per day are those of a real day; only what depends on the
wall clock (the age of the patch state, which the cache compares with the compressed patch
interval) scales along. The first minute of a real start (the first full inventory and the
first patch run) is part of the measured day, as it is of a PC's day.

``--before REV`` runs the agent of git revision REV first, from a `git archive` export in
the temp directory, with this virtual environment and this worktree's collector (so REV's
reports must match this collector's schema: a newer main with new report fields is refused
with 422), then this worktree's agent, and prints both side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COLLECTOR = str(BIN / "inventar-collector")
DAY_S = 86400.0
STATUS_S, FULL_S, PATCH_S = 15 * 60.0, 6 * 3600.0, 6 * 3600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Relay:
    """A TCP relay that counts the bytes the agent sends (request line, headers, body)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.sent = 0
        self._lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    with self._lock:
                        self.sent += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def take(self) -> int:
        with self._lock:
            sent, self.sent = self.sent, 0
        return sent


@dataclass
class Collector:
    tmp: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.tmp / 'inventar.db'}"

    def cli(self, *argv: str) -> str:
        env = {**os.environ, "INVENTAR_DATABASE_URL": self.db_url}
        done = subprocess.run(
            [COLLECTOR, *argv], capture_output=True, text=True, env=env, check=True, timeout=120
        )
        return done.stdout.strip().splitlines()[-1]

    def start(self) -> None:
        argv = [COLLECTOR, "serve", "--port", str(self.port), "--database-url", self.db_url]
        log = (self.tmp / "collector.log").open("ab")
        self.proc = subprocess.Popen(
            [*argv, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the collector did not become ready")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)


@dataclass
class Day:
    label: str
    cpu_s: float
    commands_s: float  # of cpu_s: its child processes (commands it ran, forked jobs)
    peak_rss_mib: float
    peak_pss_mib: float
    idle_rss_mib: list[float]
    sent_bytes: int


def agent_env(src: Path | None, compress: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTAR_AGENT_")}
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(proxy, None)
    env.update(
        INVENTAR_AGENT_CONFIG=os.devnull,
        INVENTAR_AGENT_STATUS_INTERVAL=str(STATUS_S / compress),
        INVENTAR_AGENT_FULL_INTERVAL=str(FULL_S / compress),
        INVENTAR_AGENT_PATCH_INTERVAL=str(PATCH_S / compress),
        INVENTAR_AGENT_SPLAY="0",
        INVENTAR_AGENT_SEND_ATTEMPTS="1",
        INVENTAR_AGENT_ALLOW_HTTP="true",
    )
    if src is not None:  # the exported revision's agent package comes first on the path
        env["PYTHONPATH"] = str(src)
    return env


def pss_bytes(pid: int) -> int:
    """The process's proportional set size: a page shared by n processes counts 1/n (a
    forked child shares the service's pages; their RSS would count those twice)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup", "rb") as f:
        for line in f:
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_sample(proc: psutil.Process) -> tuple[float, float, float, int]:
    """(RSS and PSS of the process and its children in MiB, CPU seconds of all of them,
    children)."""
    procs = [proc]
    with contextlib.suppress(psutil.Error):
        procs += proc.children(recursive=True)
    rss = pss = cpu = 0.0
    for p in procs:
        try:
            rss += p.memory_info().rss
            t = p.cpu_times()
            cpu += t.user + t.system
        except psutil.Error:
            continue
        pss += pss_bytes(p.pid)
    return rss / 2**20, pss / 2**20, cpu, len(procs) - 1


def run_day(
    label: str,
    *,
    src: Path | None,
    tmp: Path,
    collector: Collector,
    secret: str,
    args: argparse.Namespace,
) -> Day:
    state = tmp / f"state-{label}"
    relay = Relay(collector.port)
    env = agent_env(src, args.compress)
    agent = [sys.executable, "-m", "agent"]
    subprocess.run(
        [*agent, "enroll", "--server", f"http://127.0.0.1:{relay.port}", "--secret", secret,
         "--state-dir", str(state), "--allow-http"],
        env=env, check=True, capture_output=True, cwd=tmp,
    )  # fmt: skip
    relay.take()  # the enrollment is no part of the day
    proc = subprocess.Popen(
        [*agent, "run", "--state-dir", str(state)],
        env=env,
        cwd=tmp,
        stderr=(tmp / f"agent-{label}.log").open("wb"),
    )
    ps = psutil.Process(proc.pid)
    duration = args.days * DAY_S / args.compress
    peak = peak_pss = 0.0
    idle: list[float] = []
    history: list[tuple[float, float, int]] = []  # (time, tree cpu, children)
    t0 = time.monotonic()
    try:
        while (now := time.monotonic()) - t0 < duration:
            rss, pss, cpu, children = tree_sample(ps)
            peak = max(peak, rss)
            peak_pss = max(peak_pss, pss)
            history.append((now, cpu, children))
            # Idle: no child now, and no CPU used by the tree during the last 100 ms.
            recent = [h for h in history if now - h[0] <= 0.1]
            if (
                children == 0
                and len(recent) >= 4
                and recent[0][1] == cpu
                and all(h[2] == 0 for h in recent)
            ):
                idle.append(ps.memory_info().rss / 2**20)
            if len(history) > 50:
                del history[:-50]
            time.sleep(0.02)
        times = ps.cpu_times()
        cpu_s = times.user + times.system + times.children_user + times.children_system
        commands_s = times.children_user + times.children_system
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    sent = relay.take()
    relay.server.close()
    spool = list((state / "spool").glob("*.json")) if (state / "spool").exists() else []
    status = (
        json.loads((state / "status.json").read_text()) if (state / "status.json").exists() else {}
    )
    if spool or status.get("last_error"):
        print(
            f"  {label}: {len(spool)} report(s) left queued; last error {status.get('last_error')}"
        )
    return Day(label, cpu_s / args.days, commands_s / args.days, peak, peak_pss, idle,
               int(sent / args.days))  # fmt: skip


def export(ref: str, tmp: Path) -> Path:
    out = tmp / f"src-{ref.replace('/', '_')}"
    out.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "agent"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compress", type=float, default=900.0, help="time factor (900)")
    parser.add_argument("--days", type=float, default=1.0, help="compressed days to run")
    parser.add_argument("--before", default=None, help="also run this git revision's agent")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    with tempfile.TemporaryDirectory(prefix="inventar-day-") as tmp_name:
        tmp = Path(tmp_name)
        collector = Collector(tmp)
        collector.cli("sites", "add", "GS Nord", "--kind", "school")
        collector.start()
        try:
            runs: list[tuple[str, Path | None]] = []
            if args.before:
                runs.append((args.before, export(args.before, tmp)))
            runs.append(("this tree", None))
            days = []
            for label, src in runs:
                secret = collector.cli(
                    "enroll-secret",
                    "create",
                    "--site",
                    "GS Nord",
                    "--replace-agents",
                    "--expires",
                    "1d",
                )
                days.append(
                    run_day(
                        label.replace(" ", "-"),
                        src=src,
                        tmp=tmp,
                        collector=collector,
                        secret=secret,
                        args=args,
                    )
                )
        finally:
            collector.stop()
    print(
        f"one day at the default schedule (status 15 min, full and patches 6 h), "
        f"compressed {args.compress:g}x ({args.days:g} day(s) of {DAY_S / args.compress:.0f} s)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    header = f"{'':34}" + "".join(f"{d.label:>16}" for d in days)
    print(header)
    rows = [
        ("CPU s per day (agent + commands)", [f"{d.cpu_s:.2f}" for d in days]),
        ("  of which child processes", [f"{d.commands_s:.2f}" for d in days]),
        ("peak RSS MiB (tree)", [f"{d.peak_rss_mib:.1f}" for d in days]),
        ("peak PSS MiB (tree)", [f"{d.peak_pss_mib:.1f}" for d in days]),
        (
            "RSS between jobs MiB (median)",
            [f"{statistics.median(d.idle_rss_mib):.1f}" if d.idle_rss_mib else "-" for d in days],
        ),
        (
            "RSS between jobs MiB (max)",
            [f"{max(d.idle_rss_mib):.1f}" if d.idle_rss_mib else "-" for d in days],
        ),
        ("KB sent per day", [f"{d.sent_bytes / 1000:.1f}" for d in days]),
    ]
    for name, values in rows:
        print(f"{name:34}" + "".join(f"{v:>16}" for v in values))
    print("goals: <= 5 CPU s per day, <= 30 MiB between jobs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
