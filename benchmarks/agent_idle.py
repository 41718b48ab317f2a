"""Resident memory of the agent service while idle between jobs.

Starts `inventar-agent run` (this machine, live probes; or --replay DIR) with a throw-away
enrollment pointing at a closed port, so that its first full inventory is collected and
queued; then waits until it is idle and prints its RSS (and USS where psutil can read it).

    .venv/bin/python benchmarks/agent_idle.py [--replay DIR] [--settle SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replay", type=Path, help="collect from a support bundle")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle before measuring")
    args = parser.parse_args()
    agent = str(Path(sys.executable).parent / "inventar-agent")
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        state.mkdir(mode=0o700)
        (state / "agent.json").write_text(
            json.dumps(
                {
                    "server": f"http://127.0.0.1:{closed_port()}",
                    "agent_id": "bench",
                    "token": "inv_agt_bench",
                    "machine_id": "bench",
                }
            )
        )
        env = {
            **os.environ,
            "INVENTAR_AGENT_CONFIG": os.devnull,
            "INVENTAR_AGENT_SPLAY": "0",
            "INVENTAR_AGENT_SEND_ATTEMPTS": "1",
        }
        argv = [agent, "run", "--state-dir", str(state)]
        if args.replay:
            argv += ["--replay", str(args.replay)]
            report = json.loads(
                subprocess.run(
                    [agent, "collect", "--replay", str(args.replay), "--only", "host"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            data = json.loads((state / "agent.json").read_text())
            data["machine_id"] = report["host"]["machine_id"]
            (state / "agent.json").write_text(json.dumps(data))
        else:
            report = json.loads(
                subprocess.run(
                    [agent, "collect", "--only", "host"], capture_output=True, text=True, check=True
                ).stdout
            )
            data = json.loads((state / "agent.json").read_text())
            data["machine_id"] = report["host"]["machine_id"]
            (state / "agent.json").write_text(json.dumps(data))
        proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while not list((state / "spool").glob("*-full.json")):
                if proc.poll() is not None or time.monotonic() > deadline:
                    print("the agent did not queue its first report", file=sys.stderr)
                    proc.kill()
                    print(proc.communicate()[1].decode(), file=sys.stderr)
                    return 1
                time.sleep(0.2)
            time.sleep(args.settle)
            p = psutil.Process(proc.pid)
            cpu_before = sum(p.cpu_times()[:2])
            time.sleep(5)
            cpu_idle = sum(p.cpu_times()[:2]) - cpu_before
            mem = p.memory_full_info() if hasattr(p, "memory_full_info") else p.memory_info()
            rss = mem.rss / 2**20
            uss = getattr(mem, "uss", 0) / 2**20
            print(
                f"agent service idle after one full inventory: RSS {rss:.1f} MiB, "
                f"USS {uss:.1f} MiB, threads {p.num_threads()}, "
                f"CPU while idle {cpu_idle * 1000:.0f} ms in 5 s"
            )
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
