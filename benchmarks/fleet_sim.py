"""Fleet simulator: N agents against collector replicas, at real rates or compressed time.

Every simulated agent behaves as the real one does (agent/scheduler.py, agent/delta.py): a
full inventory every 6 h and a status report (a delta on its last acknowledged report) every
15 min, each with its own phase (splay); a durable outbox, sent oldest first, resent with
exponential backoff until acknowledged; a ``409 need_full`` makes the next report a full one.
Reports are built from OS templates made from real inventories: this machine's own
(``inventar-agent collect``) and the captured support bundles in tests/fixtures (Windows 10,
Windows 11, macOS), each agent with its own machine id, hostname and serial; 1 % of a host's
packages change per day (in its full inventories).

Scenarios (simulated time):

* ``--boot-storm``: the run starts at 07:30 and 70 % of every site's devices boot between
  07:40 and 08:00 (each sends a status report at boot, within the agent's 5 min splay); the
  rest are up already.
* ``--outage-at M --outage-minutes 30``: the replicas the simulator started are stopped at
  minute M and started again 30 minutes later; agents keep their reports and drain their
  outboxes afterwards.
* ``--restore-at M``: the collector's stored section hashes are replaced (what a restore from
  a backup older than the agents' last acknowledged reports looks like to a delta): every
  agent's next delta is answered ``409 need_full`` and it sends a full inventory.

Latency is measured from a report's *scheduled* send time (not from when the request went
out), so a collector that falls behind shows; in real seconds, also with ``--speed`` (which
sends N agents' reports at the rate of N x speed agents: 10,000 agents at speed 10 are the
load of 100,000 at real rates, without seeding 100,000 full inventories first). Agents'
identities (enrollment is done once) are kept in a local SQLite file (``--state``); a second
run reuses them.

    .venv/bin/python benchmarks/fleet_sim.py --agents 100000 --replicas 2 \\
        --database-url "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=$OPT" \\
        --minutes 10 [--speed 1] [--boot-storm] [--outage-at 3 --outage-minutes 30] \\
        [--restore-at 5] [--state var/fleet.sqlite]

with OPT=-csearch_path%3Dfleet (a schema of its own; create it first).

Prints reports/s, p50/p99 latency from the scheduled time, CPU time per report of the
collector processes and of PostgreSQL, and the database's growth. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import datetime as dt
import gzip
import heapq
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.delta import section_hash  # noqa: E402
from agent.schema import SECTIONS  # noqa: E402

BIN = Path(sys.executable).parent
FULL_INTERVAL = 6 * 3600.0
STATUS_INTERVAL = 15 * 60.0
SPLAY = 5 * 60.0
SITE_SIZE = 500  # devices per school
CHURN_PER_DAY = 0.01
STATUS_SECTIONS = ("host", "os", "network", "wlan", "security", "patches")
BUNDLES = ("windows-10-de-laptop", "windows-11-en-laptop", "darwin-macbook-pro-m2")


# --- templates ---------------------------------------------------------------------------------


def load_templates() -> list[dict[str, Any]]:
    """Full reports of real machines: this one (collected now) and the captured bundles."""
    runs = [[str(BIN / "inventar-agent"), "collect"]]
    runs += [[str(BIN / "inventar-agent"), "collect", "--replay",
              str(ROOT / "tests" / "fixtures" / name)] for name in BUNDLES]  # fmt: skip
    templates = []
    for argv in runs:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
        templates.append(json.loads(done.stdout))
    return templates


class Fleet:
    """Report bodies of agent ``idx`` at churn level ``churn`` (deterministic, so the base an
    agent holds need not be stored); section hashes cached per template and churn."""

    def __init__(self, templates: list[dict[str, Any]]) -> None:
        self.templates = templates
        self._hashes: dict[tuple[int, str, int, int], str] = {}

    def sections(self, template: int, idx: int, churn: int) -> dict[str, Any]:
        base = self.templates[template]
        out = {s: base.get(s) for s in SECTIONS}
        host = dict(base["host"] or {})
        host.update(machine_id=f"sim-{idx:06d}", hostname=f"sim-{idx:06d}",
                    serial=f"SIM{idx:06d}")  # fmt: skip
        out["host"] = host
        software = base.get("software")
        if churn and software:
            software = copy.copy(software)
            for k in range(churn):
                i = (idx + k * 7919) % len(software)
                software[i] = {**software[i], "version": f"{software[i].get('version')}+c{k}"}
            out["software"] = software
        return out

    def hashes(
        self, template: int, idx: int, churn: int, sections: dict[str, Any]
    ) -> dict[str, str]:
        out = {}
        for s in SECTIONS:
            if s == "host":
                out[s] = section_hash(sections[s])
                continue
            # Changed packages depend on the agent: its software's hash is its own.
            key = (template, s, churn, idx) if s == "software" and churn else (template, s, 0, 0)
            h = self._hashes.get(key)
            if h is None:
                h = self._hashes[key] = section_hash(sections[s])
            out[s] = h
        return out

    def body(self, agent: Agent, full: bool, churn: int) -> tuple[str, bytes]:
        report_id = str(uuid.uuid4())
        sections = self.sections(agent.template, agent.idx, churn)
        body: dict[str, Any] = {
            "schema_version": 1,
            "report_id": report_id,
            "collected_at": dt.datetime.now(dt.UTC).isoformat(),
            "agent": {"id": agent.agent_id, "version": "0.1.0"},
            "collection": {"errors": []},
        }
        if full:
            body.update(sections)
            body["delta"] = None
        else:  # a status report: nothing in its sections changed since the base
            body["host"] = sections["host"]
            body["delta"] = {
                "base_report_id": agent.base_id,
                "section_hashes": self.hashes(agent.template, agent.idx, churn, sections),
            }
        data = json.dumps(body, separators=(",", ":")).encode()
        return report_id, gzip.compress(data, compresslevel=6)


# --- agents and their state file -----------------------------------------------------------------


@dataclass
class Agent:
    idx: int
    agent_id: str
    token: str
    template: int
    base_id: str | None = None  # the last acknowledged report (None: send a full one)
    churn: int = 0  # packages changed so far (in the acknowledged base)
    outbox: list[tuple[float, bool]] = field(default_factory=list)  # (scheduled, full)
    sending: bool = False
    failures: int = 0


def open_state(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS agents (idx INTEGER PRIMARY KEY, agent_id TEXT, "
                 "token TEXT, template INTEGER, base_id TEXT, churn INTEGER)")  # fmt: skip
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    return conn


async def enroll(client: httpx.AsyncClient, base: str, secret: str, state: sqlite3.Connection,
                 *, count: int, templates: int) -> list[Agent]:  # fmt: skip
    rows = state.execute("SELECT idx, agent_id, token, template, base_id, churn FROM agents "
                         "ORDER BY idx").fetchall()  # fmt: skip
    agents = [Agent(*row) for row in rows]
    missing = list(range(len(agents), count))
    sem = asyncio.Semaphore(32)
    done = 0

    async def one(idx: int) -> None:
        nonlocal done
        async with sem:
            body = {"secret": secret, "machine_id": f"sim-{idx:06d}", "hostname": f"sim-{idx:06d}"}
            for _ in range(20):
                try:
                    r = await client.post(f"{base}/api/v1/enroll", json=body)
                except httpx.HTTPError:
                    await asyncio.sleep(1)
                    continue
                if r.status_code == 200:
                    break
                await asyncio.sleep(1)
            r.raise_for_status()
            answer = r.json()
            agent = Agent(idx, answer["agent_id"], answer["token"], idx % templates)
            agents.append(agent)
            state.execute("INSERT INTO agents VALUES (?, ?, ?, ?, NULL, 0)",
                          (idx, agent.agent_id, agent.token, agent.template))  # fmt: skip
            done += 1
            if done % 5000 == 0:
                state.commit()
                print(f"  enrolled {done}/{len(missing)}", flush=True)

    await asyncio.gather(*(one(i) for i in missing))
    state.commit()
    agents.sort(key=lambda a: a.idx)
    return agents


# --- the collector replicas ----------------------------------------------------------------------


class Replicas:
    def __init__(self, url: str, count: int, log_dir: Path) -> None:
        self.url = url
        self.ports = [free_port() for _ in range(count)]
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * count

    def start(self) -> None:
        for i, port in enumerate(self.ports):
            log = (self.log_dir / f"collector-{i}.log").open("ab")
            env = {**os.environ, "INVENTAR_SSH_INTERVAL": "0"}
            self.procs[i] = subprocess.Popen(
                [str(BIN / "inventar-collector"), "serve", "--port", str(port),
                 "--database-url", self.url, "--log-level", "warning", "--no-access-log"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        for port in self.ports:
            wait_ready(port)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(30)

    def cpu(self) -> float:
        total = 0.0
        for proc in self.procs:
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(proc.pid)
                total += sum(p.cpu_times()[:2])
                for child in p.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += sum(child.cpu_times()[:2])
        return total

    @property
    def bases(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"collector on port {port} not ready")


def postgres_cpu() -> dict[int, float]:
    out = {}
    for p in psutil.process_iter(["name", "username"]):
        if p.info["username"] == "postgres" or (p.info["name"] or "").startswith("postgres"):
            with contextlib.suppress(psutil.Error):
                out[p.pid] = sum(p.cpu_times()[:2])
    return out


def database_bytes(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                return int(Path(str(engine.url.database)).stat().st_size)
            return int(conn.execute(sa.text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
            )).scalar_one())  # fmt: skip
    finally:
        engine.dispose()


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)  # phase -> seconds
    answers: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    acked: int = 0

    def add(self, phase: str, latency: float) -> None:
        self.latencies.setdefault(phase, []).append(latency)

    def count(self, answer: str) -> None:
        self.answers[answer] = self.answers.get(answer, 0) + 1


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# httpcore looks through every connection of a pool for one to use at each request: one
# pool of 200 connections cost the simulator more CPU than the collectors it measures (on
# the same two cores); pools of 16 cost a fraction of that.
POOL_CONNECTIONS = 16
# Below uvicorn's keep-alive timeout (5 s): a connection the server is closing is not
# reused (a request sent on it fails with a ReadError, as a real agent's would be resent).
KEEPALIVE_S = 4.0


async def open_clients(
    stack: contextlib.AsyncExitStack, concurrency: int, timeout: float
) -> list[httpx.AsyncClient]:
    """The simulator's clients, ``concurrency`` connections in all, closed with ``stack``."""
    pools = max(1, -(-concurrency // POOL_CONNECTIONS))
    sizes = [concurrency // pools + (1 if i < concurrency % pools else 0) for i in range(pools)]
    return [
        await stack.enter_async_context(
            httpx.AsyncClient(
                timeout=timeout,
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n,
                                    keepalive_expiry=KEEPALIVE_S),
            )
        )
        for n in sizes
    ]  # fmt: skip


class Simulation:
    def __init__(
        self,
        args: argparse.Namespace,
        fleet: Fleet,
        agents: list[Agent],
        bases: list[str],
        *,
        replicas: Replicas | None,
        state: sqlite3.Connection,
    ) -> None:
        self.args = args
        self.fleet = fleet
        self.agents = agents
        self.bases = bases
        self.replicas = replicas
        self.state = state
        self.stats = Stats()
        self.rng = random.Random(20)
        self.speed = args.speed
        self.start_real = 0.0
        self.start_sim = 0.0
        self.sem: asyncio.Semaphore | None = None  # made in the running loop
        self.turn = 0
        self.phase = "steady"
        self.tasks: set[asyncio.Task[None]] = set()
        self.clients: list[httpx.AsyncClient] = []  # made in the running loop

    def sim_now(self) -> float:
        return float(self.start_sim + (time.monotonic() - self.start_real) * self.speed)

    def real_at(self, sim_t: float) -> float:
        return float(self.start_real + (sim_t - self.start_sim) / self.speed)

    def schedule(self) -> list[tuple[float, int, bool]]:
        """(sim time, agent, full) of the first reports: each agent's own phase."""
        heap: list[tuple[float, int, bool]] = []
        storm = self.args.boot_storm
        for agent in self.agents:
            if agent.base_id is None:  # never acknowledged: its first full inventory soon
                heap.append((self.rng.uniform(0, SPLAY), agent.idx, True))
                continue
            booted = storm and self.rng.random() < 0.7
            if booted:  # boots between 07:40 and 08:00 (the run starts 07:30)
                boot = self.rng.uniform(600, 1800)
                heap.append((boot + self.rng.uniform(0, SPLAY), agent.idx, False))
                heap.append((boot + self.rng.uniform(0, FULL_INTERVAL), agent.idx, True))
            else:
                heap.append((self.rng.uniform(0, STATUS_INTERVAL), agent.idx, False))
                heap.append((self.rng.uniform(0, FULL_INTERVAL), agent.idx, True))
        heapq.heapify(heap)
        return heap

    async def run(self) -> None:
        self.sem = asyncio.Semaphore(self.args.concurrency)
        async with contextlib.AsyncExitStack() as stack:
            self.clients = await open_clients(stack, self.args.concurrency, timeout=60)
            heap = self.schedule()
            self.start_real = time.monotonic()
            end_sim = self.args.minutes * 60.0
            outage = self.args.outage_at * 60.0 if self.args.outage_at is not None else None
            restore = self.args.restore_at * 60.0 if self.args.restore_at is not None else None
            outage_end = outage + self.args.outage_minutes * 60.0 if outage is not None else None
            while heap and heap[0][0] < end_sim:
                at, idx, full = heapq.heappop(heap)
                delay = self.real_at(at) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = self.sim_now()
                if outage is not None and now >= outage and self.phase == "steady":
                    self.phase = "outage"
                    print(f"  outage: replicas stopped at minute {now / 60:.1f}", flush=True)
                    if self.replicas is not None:
                        await asyncio.to_thread(self.replicas.stop)
                if outage_end is not None and now >= outage_end and self.phase == "outage":
                    self.phase = "drain"
                    if self.replicas is not None:
                        await asyncio.to_thread(self.replicas.start)
                    print(f"  outage over at minute {now / 60:.1f}: replicas started", flush=True)
                if restore is not None and now >= restore:
                    restore = None
                    await asyncio.to_thread(self.restore)
                    print(
                        f"  restore at minute {now / 60:.1f}: section hashes replaced", flush=True
                    )
                agent = self.agents[idx]
                agent.outbox.append((at, full))
                if not agent.sending:
                    self.spawn(agent)
                interval = FULL_INTERVAL if full else STATUS_INTERVAL
                heapq.heappush(heap, (at + interval, idx, full))
            # Drain: every report in an outbox is delivered.
            deadline = time.monotonic() + self.args.drain_seconds
            while any(a.outbox for a in self.agents) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            self.undelivered = sum(len(a.outbox) for a in self.agents)
            for task in list(self.tasks):
                task.cancel()

    def restore(self) -> None:
        engine = sa.create_engine(self.args.database_url)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE host_sections SET agent_hash = 'restored'"))
        engine.dispose()

    def spawn(self, agent: Agent) -> None:
        agent.sending = True
        task = asyncio.create_task(self.drain(agent))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self, agent: Agent) -> None:
        """The agent's outbox, oldest first, each resent until acknowledged."""
        try:
            while agent.outbox:
                scheduled, full = agent.outbox[0]
                ok = await self.send(agent, scheduled, full or agent.base_id is None)
                if ok:
                    agent.outbox.pop(0)
                    agent.failures = 0
                else:
                    agent.failures += 1
                    backoff = min(300.0, 15.0 * 2 ** min(agent.failures, 5))
                    await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.0) / self.speed)
        finally:
            agent.sending = False

    async def send(self, agent: Agent, scheduled: float, full: bool) -> bool:
        churn = agent.churn
        if full:  # 1 % of the packages per day since the last full inventory
            n = len(self.fleet.templates[agent.template].get("software") or [])
            churn += max(0, round(n * CHURN_PER_DAY * FULL_INTERVAL / 86400))
        while True:
            report_id, body = self.fleet.body(agent, full, churn)
            self.turn += 1
            base = self.bases[self.turn % len(self.bases)]
            headers = {"Authorization": f"Bearer {agent.token}", "Content-Encoding": "gzip",
                       "Content-Type": "application/json"}  # fmt: skip
            assert self.sem is not None
            async with self.sem:
                self.stats.sent += 1
                try:
                    client = self.clients[agent.idx % len(self.clients)]
                    r = await client.post(f"{base}/api/v1/reports", content=body,
                                               headers=headers)  # fmt: skip
                except httpx.HTTPError as exc:
                    self.stats.count(type(exc).__name__)
                    return False
            self.stats.count(str(r.status_code))
            if r.status_code in (200, 201):
                agent.base_id = report_id
                agent.churn = churn
                self.stats.acked += 1
                # Real seconds since the scheduled send (with --speed, what an agent would
                # wait on a collector that is as fast as this one).
                latency = time.monotonic() - self.real_at(scheduled)
                self.stats.add(f"{self.phase} {'full' if full else 'status'}", latency)
                return True
            if r.status_code == 409 and not full:
                if self.args.verbose:
                    print(f"  409 template {agent.template}: {r.text[:300]}", flush=True)
                full = True  # need_full: the same scheduled report, as a full inventory
                continue
            if 400 <= r.status_code < 500:
                print(f"  agent {agent.idx}: {r.status_code} {r.text[:200]}", flush=True)
                agent.outbox.clear()
                return True
            return False


async def seed(sim: Simulation) -> None:
    """Every agent without an acknowledged report sends its first full inventory now (as
    fast as the collectors take them; not part of the measured run)."""
    pending = [a for a in sim.agents if a.base_id is None]
    if not pending:
        return
    print(f"seeding {len(pending)} full inventories ...", flush=True)
    t0 = time.monotonic()
    sim.sem = asyncio.Semaphore(sim.args.concurrency)
    async with contextlib.AsyncExitStack() as stack:
        sim.clients = await open_clients(stack, sim.args.concurrency, timeout=120)
        sim.start_real = time.monotonic()
        done = 0
        work = iter(pending)

        async def worker() -> None:
            # A pool of senders (not a task per agent: the bodies are built when sent).
            nonlocal done
            for agent in work:
                while not await sim.send(agent, sim.sim_now(), True):
                    await asyncio.sleep(1)
                done += 1
                if done % 5000 == 0:
                    print(f"  {done}/{len(pending)} ({done / (time.monotonic() - t0):.0f}/s)",
                          flush=True)  # fmt: skip

        await asyncio.gather(*(worker() for _ in range(sim.args.concurrency)))
    sim.state.executemany("UPDATE agents SET base_id = ?, churn = ? WHERE idx = ?",
                          [(a.base_id, a.churn, a.idx) for a in sim.agents])  # fmt: skip
    sim.state.commit()
    print(f"seeded in {time.monotonic() - t0:.0f} s", flush=True)
    sim.stats = Stats()


def provision(url: str, state: sqlite3.Connection, count: int, templates: int) -> None:
    """Agents created directly in the database, as enrollment would (a token each, its hash
    stored): enrolling 100,000 agents one by one through the API takes half an hour on this
    machine, and enrollment is not what this simulator measures."""
    from collector.models import Agent as AgentRow
    from collector.models import Site, table_of
    from collector.security import AGENT_PREFIX, hash_secret, new_secret

    have = state.execute("SELECT count(*) FROM agents").fetchone()[0]
    if have >= count:
        return
    engine = sa.create_engine(url)
    agents_table, sites = table_of(AgentRow), table_of(Site)
    with engine.begin() as conn:
        site_id = conn.execute(
            sa.select(sites.c.id).where(sites.c.name == "Fleet School")
        ).scalar_one()
        rows, local = [], []
        for idx in range(have, count):
            token, agent_id = new_secret(AGENT_PREFIX), str(uuid.uuid4())
            rows.append({"id": agent_id, "site_id": site_id, "machine_id": f"sim-{idx:06d}",
                         "hostname": f"sim-{idx:06d}", "token_hash": hash_secret(token),
                         "revoked": False, "created_at": dt.datetime.now(dt.UTC)})  # fmt: skip
            local.append((idx, agent_id, token, idx % templates))
            if len(rows) == 5000:
                conn.execute(sa.insert(agents_table), rows)
                rows = []
        if rows:
            conn.execute(sa.insert(agents_table), rows)
    engine.dispose()
    state.executemany("INSERT INTO agents VALUES (?, ?, ?, ?, NULL, 0)", local)
    state.commit()
    print(f"provisioned {len(local)} agents in the database", flush=True)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--boot-storm", action="store_true")
    parser.add_argument("--outage-at", type=float, default=None, help="simulated minute")
    parser.add_argument("--outage-minutes", type=float, default=30.0)
    parser.add_argument("--restore-at", type=float, default=None, help="simulated minute")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--provision", action="store_true",
                        help="create agents in the database instead of enrolling them")  # fmt: skip
    parser.add_argument("--drain-seconds", type=float, default=600.0)
    parser.add_argument("--state", type=Path, default=ROOT / "var" / "fleet_sim.sqlite")
    args = parser.parse_args()

    from collector.db import Database
    from collector.services import add_site, create_enroll_secret

    state = open_state(args.state)
    secret_row = state.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
    if secret_row is None:
        db = Database(args.database_url)
        db.upgrade()
        with db.session() as s:
            add_site(s, "Fleet School", "school")
            secret = create_enroll_secret(s, "Fleet School")
        db.dispose()
        state.execute("INSERT INTO meta VALUES ('secret', ?)", (secret,))
        state.commit()
    else:
        secret = secret_row[0]
    # Built once and kept: the agents' acknowledged bases are made of them.
    row = state.execute("SELECT value FROM meta WHERE key = 'templates'").fetchone()
    if row is None:
        print("building OS templates from real inventories ...", flush=True)
        templates = load_templates()
        state.execute("INSERT INTO meta VALUES ('templates', ?)", (json.dumps(templates),))
        state.commit()
    else:
        templates = json.loads(row[0])
    fleet = Fleet(templates)
    if args.provision:
        provision(args.database_url, state, args.agents, len(fleet.templates))
    log_dir = args.state.parent
    replicas = Replicas(args.database_url, args.replicas, log_dir)
    # A SIGTERM (kill, timeout) ends the run through the finally below, which stops the
    # replicas: they would otherwise go on serving, evaluating and claiming beside the
    # next run.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    replicas.start()
    try:

        async def prepare() -> list[Agent]:
            async with httpx.AsyncClient(timeout=60) as client:
                return await enroll(client, replicas.bases[0], secret, state,
                                    count=args.agents, templates=len(fleet.templates))  # fmt: skip

        agents = asyncio.run(prepare())[: args.agents]
        sim = Simulation(args, fleet, agents, replicas.bases, replicas=replicas, state=state)
        asyncio.run(seed(sim))
        size_before = database_bytes(args.database_url)
        cpu_before, pg_before = replicas.cpu(), postgres_cpu()
        me_before = sum(psutil.Process().cpu_times()[:2])
        load_before = os.getloadavg()
        t0 = time.monotonic()
        asyncio.run(sim.run())
        wall = time.monotonic() - t0
        cpu = replicas.cpu() - cpu_before
        pg_after = postgres_cpu()
        pg = sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items())
        me = sum(psutil.Process().cpu_times()[:2]) - me_before
        size_after = database_bytes(args.database_url)
        state.executemany("UPDATE agents SET base_id = ?, churn = ? WHERE idx = ?",
                          [(a.base_id, a.churn, a.idx) for a in sim.agents])  # fmt: skip
        state.commit()
    finally:
        replicas.stop()
    stats = sim.stats
    acked = max(1, stats.acked)
    print(f"\n{len(agents)} agents, {args.replicas} replicas, {args.minutes:g} simulated minutes "
          f"at speed {args.speed:g} ({wall:.0f} s wall); load average before "
          f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"reports acknowledged: {stats.acked} ({stats.acked / wall:.1f}/s); requests "
          f"{stats.sent}; answers {dict(sorted(stats.answers.items()))}")  # fmt: skip
    print(f"reports lost (still in an outbox after the drain): {sim.undelivered}")
    for phase, values in sorted(stats.latencies.items()):
        print(f"  {phase:14s} n={len(values):7d}  p50 {pct(values, 50):8.3f} s  "
              f"p99 {pct(values, 99):8.3f} s  max {max(values):8.3f} s"
              " (from scheduled time)")  # fmt: skip
    print(f"CPU per acknowledged report: collectors {1000 * cpu / acked:.2f} ms, PostgreSQL "
          f"{1000 * pg / acked:.2f} ms, simulator {1000 * me / acked:.2f} ms")  # fmt: skip
    print(f"database growth: {(size_after - size_before) / 1e6:.1f} MB "
          f"({size_before / 1e6:.0f} -> {size_after / 1e6:.0f} MB), "
          f"{(size_after - size_before) / acked:.0f} bytes per report")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
