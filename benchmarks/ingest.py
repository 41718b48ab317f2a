"""Ingest throughput: the collector against a trivial ASGI endpoint (the floor).

200 enrolled agents send 3000 gzip'd full reports (~300 software entries each) from 16
concurrent senders, first to the collector on SQLite, then to an ASGI app that only gunzips,
parses and inserts the body as one SQLite row, then to the collector on PostgreSQL. Prints
throughput, p50/p99 latency and CPU time per report (the server process, its decode
workers, this load generator) for each, and the ratio collector/trivial (goal >= 0.5x,
p99 <= 250 ms on SQLite). Figures, not assertions.

The delta run (the steady state of a fleet): each agent sends one full report, then delta
reports built with the agent's own code (agent.delta.wire_body): every other one unchanged
(only ``host`` and the section hashes), the others with changed free disk space, and every
fourth with one package updated. Its figures are for the deltas only, on SQLite and
PostgreSQL (goal there: >= 1,000 reports/s, p99 <= 250 ms). The deltas come from 64
senders: a fleet sending 1,000 reports a second has that many and more in flight (Little's
law: 1,000/s at 30-60 ms each is 30-60 at once), while 16 senders waiting for each answer
could offer 1,000/s only if every report took at most 16 ms (--delta-senders 16 for that
figure).

    .venv/bin/python benchmarks/ingest.py [--reports 3000] [--agents 200] [--no-postgres]
                                          [--no-delta] [--only-delta] [--delta-senders 64]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import http.client
import json
import os
import queue
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from agent.schema import convert, to_data

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the trivial endpoint ---------------------------------------------------------------


def trivial_app(db_path: str) -> Any:
    conn = sqlite3.connect(db_path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS reports (id INTEGER PRIMARY KEY, body TEXT)")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        data = json.loads(gzip.decompress(body))
        conn.execute("INSERT INTO reports (body) VALUES (?)", (json.dumps(data),))
        conn.commit()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def serve_trivial(port: int, db_path: str) -> None:
    import uvicorn

    uvicorn.run(trivial_app(db_path), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, lifespan="on")  # fmt: skip


# --- load ---------------------------------------------------------------------------------


def make_report(machine_id: str, n: int, software: list[dict[str, Any]]) -> dict[str, Any]:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n)
    return {
        "schema_version": 1,
        "report_id": str(uuid.uuid4()),
        "collected_at": now.isoformat(),
        "agent": {"version": "0.1.0"},
        "host": {"machine_id": machine_id, "hostname": f"pc-{machine_id[:8]}",
                 "chassis": "desktop", "role": "classroom", "tags": ["bench"]},
        "os": {"family": "linux", "name": "Debian GNU/Linux", "version": "12",
               "kernel": "6.1.0-18-amd64", "arch": "x86_64", "boot_time": now.isoformat()},
        "hardware": {
            "cpu_model": "Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz", "cpu_cores": 6,
            "cpu_threads": 6, "memory_bytes": 8 << 30,
            "disks": [{"name": "nvme0n1", "model": "Samsung SSD 970", "size_bytes": 256 << 30,
                       "rotational": False}],
            # free space changes between reports, as it does on real machines
            "volumes": [{"mount": "/", "size_bytes": 250 << 30,
                         "free_bytes": random.randint(1 << 30, 100 << 30), "system": True}],
            "tpm": {"present": True, "version": "2.0"}, "uefi": True,
        },
        "displays": [{"connector": "card0-DP-1", "vendor_pnp": "DEL", "model": "P2419H",
                      "diagonal_in": 23.8, "native_width_px": 1920, "native_height_px": 1080,
                      "year": 2019}],
        "network": {"interfaces": [{"name": "eth0", "mac": "00:11:22:33:44:55",
                                    "addresses": ["10.1.2.3/24"], "up": True,
                                    "speed_mbps": 1000, "kind": "ethernet"}],
                    "default_gateway": "10.1.2.1", "dns_servers": ["10.1.2.1"]},
        "wlan": {"interfaces": [], "profiles": [], "visible": []},
        "patches": {"manager": "apt",
                    "pending": [{"name": "openssl", "installed": "3.0.11", "available": "3.0.13",
                                 "security": True}] if n % 3 else [],
                    "pending_count": 1 if n % 3 else 0,
                    "pending_security_count": 1 if n % 3 else 0,
                    "auto_updates": True, "reboot_required": False},
        "security": {"firewall": True, "secure_boot": True, "smb1": False},
        "software": software,
        "collection": {"duration_ms": 1234, "errors": []},
    }  # fmt: skip


@dataclass
class Result:
    name: str
    n: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds in the run

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    def line(self) -> str:
        cpu = ", ".join(
            f"{name} {seconds / self.n * 1000:.2f}" for name, seconds in self.cpu.items()
        )
        return (
            f"{self.name:<28} {self.rate:8.1f} reports/s   p50 {self.pct(0.5):7.1f} ms   "
            f"p99 {self.pct(0.99):7.1f} ms   errors {self.errors}\n"
            f"{'':<28} CPU ms per report: {cpu}"
        )


def cpu_seconds(proc: subprocess.Popen[bytes]) -> dict[str, float]:
    """CPU time so far of a server and of each of its child processes (decode workers)."""
    server = psutil.Process(proc.pid)
    out = {"server": sum(server.cpu_times()[:2])}
    for child in server.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker replaced meanwhile
            out["workers"] = out.get("workers", 0.0) + sum(child.cpu_times()[:2])
    return out


def postgres_cpu() -> dict[int, float]:
    """CPU time so far of each PostgreSQL server process (backends, WAL writer, ...)."""
    out = {}
    for p in psutil.process_iter(["name", "username"]):
        if p.info["username"] == "postgres" or (p.info["name"] or "").startswith("postgres"):
            with contextlib.suppress(psutil.Error):
                out[p.pid] = sum(p.cpu_times()[:2])
    return out


def measured(
    proc: subprocess.Popen[bytes], name: str, port: int, path: str, jobs: list[tuple[str, bytes]],
    *, concurrency: int, postgres: bool = False,
) -> Result:  # fmt: skip
    """send_all, with the server's CPU time and the sender's own (this process) added, and
    with ``postgres`` the PostgreSQL server processes' (a process that ended during the run
    is not counted)."""
    me = psutil.Process()
    before, mine = cpu_seconds(proc), sum(me.cpu_times()[:2])
    pg_before = postgres_cpu() if postgres else {}
    result = send_all(name, port, path, jobs, concurrency)
    after = cpu_seconds(proc)
    result.cpu = {key: after[key] - before.get(key, 0.0) for key in after}
    if postgres:
        pg_after = postgres_cpu()
        result.cpu["postgres"] = sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items())
    result.cpu["load generator"] = sum(me.cpu_times()[:2]) - mine
    return result


def send_all(
    name: str, port: int, path: str, jobs: list[tuple[str, bytes]], concurrency: int
) -> Result:
    work: queue.Queue[tuple[str, bytes]] = queue.Queue()
    for job in jobs:
        work.put(job)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                token, body = work.get_nowait()
            except queue.Empty:
                break
            headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "gzip",
                       "Content-Type": "application/json"}  # fmt: skip
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            dt_s = time.perf_counter() - t0
            with lock:
                latencies.append(dt_s)
                if resp.status >= 300:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(name, len(jobs), time.perf_counter() - t0, latencies, errors[0])


def wait_ready(port: int, proc: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server not ready")


def delta_jobs(
    agents: list[tuple[str, str]], args: argparse.Namespace
) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """The full reports (one per agent) and the deltas after them, as the agent builds them:
    sections as the schema dumps them, the body from agent.delta.wire_body."""
    from agent.delta import Base, encode, wire_body
    from agent.schema import SECTIONS, Report

    rng = random.Random(2)
    fulls: list[tuple[str, bytes]] = []
    deltas: list[tuple[str, bytes]] = []
    state: dict[str, tuple[Base, dict[str, Any]]] = {}
    for machine_id, token in agents:
        software = [{"name": f"package-{rng.randint(0, 5000)}-{k}", "version": f"{k}.0",
                     "publisher": "Debian"} for k in range(args.software)]  # fmt: skip
        report = make_report(machine_id, 0, software)
        report["patches"]["pending"], report["patches"]["pending_count"] = [], 0
        report["patches"]["pending_security_count"] = 0
        dump = to_data(convert(report, Report))
        body, current = wire_body(dump, SECTIONS, None)
        fulls.append((token, gzip.compress(encode(body), compresslevel=6)))
        state[machine_id] = (Base(dump["report_id"], current), report)
    per_agent = max(1, args.reports // len(agents))
    for n in range(1, per_agent + 1):
        for machine_id, token in agents:
            base, report = state[machine_id]
            report = json.loads(json.dumps(report))
            report["report_id"] = str(uuid.uuid4())
            report["collected_at"] = (
                dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=15 * n)
            ).isoformat()
            collected = ["host"]
            if n % 2:  # a status report: free space changed
                report["hardware"]["volumes"][0]["free_bytes"] -= 4096 * n
                collected.append("hardware")
            if n % 4 == 3:  # a package updated
                package = report["software"][n % len(report["software"])]
                package["version"] = f"{package['version']}.{n}"
                collected.append("software")
            dump = to_data(convert(report, Report))
            body, current = wire_body(dump, collected, base)
            deltas.append((token, gzip.compress(encode(body), compresslevel=6)))
            state[machine_id] = (Base(dump["report_id"], current), report)
    return fulls, deltas


def collector_run(
    name: str, db_url: str, args: argparse.Namespace, tmp: Path, *, delta: bool = False
) -> Result:
    from collector.db import Database
    from collector.services import add_site, create_enroll_secret

    postgres = not db_url.startswith("sqlite")
    db = Database(db_url)
    db.upgrade()
    with db.session() as s:
        add_site(s, "Bench School", "school")
        secret = create_enroll_secret(s, "Bench School")
    db.dispose()
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "inventar-collector"), "serve", "--port", str(port), "--database-url", db_url,
         "--log-level", "warning", "--no-access-log"],
        cwd=tmp,
    )  # fmt: skip
    try:
        wait_ready(port, proc, "/readyz")
        agents = []
        for i in range(args.agents):
            machine_id = uuid.uuid5(uuid.NAMESPACE_DNS, f"bench-{i}").hex
            conn = http.client.HTTPConnection("127.0.0.1", port)
            body = json.dumps({"secret": secret, "machine_id": machine_id, "hostname": f"pc{i}"})
            conn.request("POST", "/api/v1/enroll", body, {"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read())
            agents.append((machine_id, answer["token"]))
        if delta:
            fulls, deltas = delta_jobs(agents, args)
            first = send_all("full reports first", port, "/api/v1/reports", fulls, 1)
            if first.errors:
                print(f"  {first.errors} full report(s) refused")
            return measured(proc, name, port, "/api/v1/reports", deltas,
                            concurrency=args.delta_senders, postgres=postgres)  # fmt: skip
        jobs = build_jobs(agents, args)
        return measured(proc, name, port, "/api/v1/reports", jobs, concurrency=args.concurrency,
                        postgres=postgres)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(10)


_JOB_CACHE: dict[tuple[str, ...], list[tuple[str, bytes]]] = {}


def build_jobs(agents: list[tuple[str, str]], args: argparse.Namespace) -> list[tuple[str, bytes]]:
    rng = random.Random(1)
    software = {
        m: [{"name": f"package-{rng.randint(0, 5000)}-{k}", "version": f"{k}.{rng.randint(0, 99)}",
             "publisher": "Debian"} for k in range(args.software)]
        for m, _ in agents
    }  # fmt: skip
    jobs = []
    for n in range(args.reports):
        machine_id, token = agents[n % len(agents)]
        report = make_report(machine_id, n // len(agents), software[machine_id])
        jobs.append((token, gzip.compress(json.dumps(report).encode(), compresslevel=6)))
    return jobs


def postgres_url() -> str | None:
    base = os.environ.get(
        "INVENTAR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    try:
        import psycopg

        plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
        schema = f"inv_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:
        print(f"PostgreSQL unavailable ({exc}); skipping its figure")
        return None
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={urllib.parse.quote(f'-csearch_path={schema}')}"


def drop_schema(url: str) -> None:
    import psycopg

    base, _, query = url.partition("?")
    schema = urllib.parse.unquote(query).split("search_path=")[1]
    plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delta-senders", type=int, default=64, help="senders of the deltas")
    parser.add_argument("--software", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-delta", action="store_true", help="skip the delta run")
    parser.add_argument("--only-delta", action="store_true", help="only the delta run")
    parser.add_argument("--serve-trivial", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_trivial:
        serve_trivial(int(args.serve_trivial[0]), args.serve_trivial[1])
        return 0

    with tempfile.TemporaryDirectory(prefix="inventar-bench-") as tmpdir:
        tmp = Path(tmpdir)
        print(f"{args.reports} reports, {args.agents} agents, {args.concurrency} senders "
              f"({args.delta_senders} of deltas), {args.software} software entries per "
              "report")  # fmt: skip
        if not args.only_delta:
            full_runs(args, tmp)
        if not args.no_delta:
            delta_runs(args, tmp)
    return 0


def delta_runs(args: argparse.Namespace, tmp: Path) -> None:
    sqlite = collector_run("deltas (SQLite)", f"sqlite:///{tmp / 'd.db'}", args, tmp, delta=True)
    print(sqlite.line(), flush=True)
    if not args.no_postgres:
        url = postgres_url()
        if url:
            try:
                print(collector_run("deltas (PostgreSQL)", url, args, tmp, delta=True).line())
            finally:
                drop_schema(url)


def full_runs(args: argparse.Namespace, tmp: Path) -> None:
    collector = collector_run("collector (SQLite)", f"sqlite:///{tmp / 'c.db'}", args, tmp)
    print(collector.line(), flush=True)

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-trivial", str(port), str(tmp / "t.db")]
    )
    try:
        wait_ready(port, proc)
        agents = [(uuid.uuid5(uuid.NAMESPACE_DNS, f"bench-{i}").hex, "x")
                  for i in range(args.agents)]  # fmt: skip
        trivial = measured(proc, "trivial ASGI + SQLite", port, "/",
                           build_jobs(agents, args), concurrency=args.concurrency)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(10)
    print(trivial.line(), flush=True)
    ratio = collector.rate / trivial.rate
    print(f"ratio collector/trivial: {ratio:.2f}x (goal >= 0.5x); "
          f"collector p99 {collector.pct(0.99):.0f} ms (goal <= 250 ms)")  # fmt: skip

    if not args.no_postgres:
        url = postgres_url()
        if url:
            try:
                pg = collector_run("collector (PostgreSQL)", url, args, tmp)
                print(pg.line())
            finally:
                drop_schema(url)


if __name__ == "__main__":
    raise SystemExit(main())
