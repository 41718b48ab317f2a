"""Real processes for the fault tests of several collectors on one database: a PostgreSQL
cluster of the test's own (initdb on its own port, so it can be stopped and restarted),
`inventar-collector serve` replicas (each in its own process group with its decode
workers, so that ``kill -9`` takes them all), HAProxy in front of them, and simulated agents
that resend a report until it is acknowledged, as the real agent's outbox does."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from collector.db import Database
from collector.services import add_site, create_enroll_secret
from tests.collector.helpers import make_report
from tests.integration.test_collector_e2e import COLLECTOR, free_port
from tests.needs import missing


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    return found[-1].parent


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: there, run them as the postgres user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


class PgCluster:
    """A PostgreSQL cluster of the test's own, in ``root`` (a directory the postgres user
    may write when the test runs as root), on a free port."""

    def __init__(self, root: Path) -> None:
        self.bin = _pg_bin()
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            _as_postgres([str(self.bin / tool), *args]),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c shared_buffers=32MB -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str, database: str = "postgres") -> None:
        engine = sa.create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def close(self) -> None:
        with contextlib.suppress(AssertionError):  # not running
            self.stop("immediate")


def prepare(url: str) -> str:
    """Migrates the database and adds a site; returns an enrollment secret for it."""
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        add_site(s, "GS Nord", "school")
        secret = create_enroll_secret(s, "GS Nord")
    db.dispose()
    return secret


class Replica:
    """One `inventar-collector serve` process (with its decode workers in its process
    group)."""

    def __init__(self, url: str, log_dir: Path, name: str, *, decode_workers: int = 1,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.url = url
        self.port = free_port()
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.decode_workers = decode_workers
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        """Starts the process without waiting for it to answer (start_all)."""
        log = self.log_path.open("ab")
        env = {**os.environ, "INVENTAR_SSH_INTERVAL": "0", **self.env}
        self.proc = subprocess.Popen(
            [COLLECTOR, "serve", "--port", str(self.port), "--database-url", self.url,
             "--decode-workers", str(self.decode_workers), "--log-level", "warning",
             "--no-access-log"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        log.close()

    def wait_ready(self) -> None:
        wait_for(f"{self.name} to answer", lambda: get_status(f"{self.base}/healthz") == 200)

    def kill(self) -> None:
        """kill -9 of the server and its decode workers (its process group)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def start_all(replicas: list[Replica]) -> None:
    """Starts the replicas side by side (each spends seconds importing) and waits until
    each answers."""
    for replica in replicas:
        replica.spawn()
    try:
        for replica in replicas:
            replica.wait_ready()
    except BaseException:
        for replica in replicas:
            replica.stop()
        raise


class HAProxy:
    """HAProxy in front of replicas, health-checking /readyz, as deploy/haproxy does."""

    def __init__(self, root: Path, replicas: list[Replica]) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            missing("haproxy not installed (apt-get install haproxy)")
        self.port = free_port()
        config = root / "haproxy.cfg"
        servers = "\n".join(
            f"    server {r.name} 127.0.0.1:{r.port} check inter 500ms fall 2 rise 1"
            for r in replicas
        )
        config.write_text(
            "global\n    maxconn 2000\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n"
            "    timeout server 30s\n    retries 2\n    option redispatch\n"
            f"frontend agents\n    bind 127.0.0.1:{self.port}\n    default_backend collectors\n"
            "backend collectors\n    balance roundrobin\n    option httpchk GET /readyz\n"
            f"{servers}\n"
        )
        self.proc = subprocess.Popen(
            [binary, "-f", str(config), "-db"],
            stdout=(root / "haproxy.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for("haproxy", lambda: get_status(f"{self.base}/healthz") == 200)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def wait_for(what: str, check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def post(url: str, body: bytes, token: str | None = None,
         timeout: float = 20) -> tuple[int, dict[str, str], Any]:  # fmt: skip
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), dict(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = raw.decode("latin-1")
        return exc.code, dict(exc.headers), answer


@dataclass
class Agent:
    machine: str
    token: str
    acked: list[dict[str, Any]] = field(default_factory=list)  # reports answered 2xx


@dataclass
class Fleet:
    """Simulated agents: each sends reports one after the other and resends a report until
    it is answered 2xx (the agent's outbox); any 4xx is a failure of the test."""

    targets: list[str]  # base URLs, used round-robin per request
    agents: list[Agent] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    bad: list[tuple[int, Any]] = field(default_factory=list)  # 4xx, 500
    pause: float = 0.02
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _turn: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    first_ok_after: dict[str, float] = field(default_factory=dict)

    def enroll(self, secret: str, count: int) -> None:
        for i in range(count):
            machine = f"sim-{i:03d}"
            status, _, answer = post(
                f"{self.targets[0]}/api/v1/enroll",
                json.dumps({"secret": secret, "machine_id": machine, "hostname": machine}).encode(),
            )
            assert status == 200, answer
            self.agents.append(Agent(machine, answer["token"]))

    def _target(self) -> str:
        with self._lock:
            self._turn += 1
            return self.targets[self._turn % len(self.targets)]

    def send_until_acked(self, agent: Agent, report: dict[str, Any], deadline: float) -> bool:
        body = json.dumps(report).encode()
        while time.monotonic() < deadline:
            try:
                status, _headers, answer = post(f"{self._target()}/api/v1/reports", body,
                                                agent.token)  # fmt: skip
            except OSError as exc:  # connection refused or reset: the replica is gone
                with self._lock:
                    self.statuses[type(exc).__name__] += 1
                time.sleep(0.05)
                continue
            with self._lock:
                self.statuses[status] += 1
                if 400 <= status < 500 or status == 500:
                    self.bad.append((status, answer))
            if status in (200, 201):
                agent.acked.append(report)
                return True
            if 400 <= status < 500:
                return False
            time.sleep(0.1)
        return False

    def _run(self, agent: Agent, index: int) -> None:
        n = 0
        while not self._stop.is_set():
            report = make_report(agent.machine, agent.machine, software=3 + (index + n) % 7)
            n += 1
            # A report in the outbox is sent until acknowledged, also after the load stops.
            if not self.send_until_acked(agent, report, time.monotonic() + 90):
                return
            time.sleep(self.pause)

    def start(self) -> None:
        for i, agent in enumerate(self.agents):
            thread = threading.Thread(target=self._run, args=(agent, i), daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)

    def acked(self) -> int:
        return sum(len(a.acked) for a in self.agents)


def check_stored_exactly_once(url: str, fleet: Fleet) -> None:
    """Every acknowledged report is stored once; each host's latest is its agent's last
    acknowledged report and its normalized rows are that report's."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            receipts = Counter(
                str(r)
                for r in conn.execute(sa.text("SELECT report_id FROM report_receipts")).scalars()
            )
            hosts = {
                row.machine_id: row
                for row in conn.execute(
                    sa.text("SELECT id, machine_id, last_report_id, last_collected_at FROM hosts")
                )
            }
            received = {
                str(row.report_id): (row.collected_at, row.received_at)
                for row in conn.execute(
                    sa.text("SELECT report_id, collected_at, received_at FROM report_receipts")
                )
            }
            software: dict[int, int] = {
                int(row[0]): int(row[1])
                for row in conn.execute(
                    sa.text("SELECT host_id, count(*) FROM software GROUP BY host_id")
                )
            }
    finally:
        engine.dispose()
    for agent in fleet.agents:
        if not agent.acked:
            continue
        ids = [r["report_id"] for r in agent.acked]
        assert len(set(ids)) == len(ids), agent.machine  # each report acknowledged once
        for report_id in ids:
            assert receipts[report_id] == 1, (agent.machine, report_id, receipts[report_id])
        host = hosts[agent.machine]
        latest = agent.acked[-1]
        if str(host.last_report_id) != latest["report_id"]:
            # Which report the host holds instead, and when each was collected and received:
            # tells a late or reordered store from a lost one.
            stored = str(host.last_report_id)
            position = ids.index(stored) if stored in ids else "not acknowledged"
            raise AssertionError(
                f"{agent.machine}: latest {stored} (acknowledged #{position} of {len(ids)}, "
                f"{received.get(stored)}), host collected {host.last_collected_at}; "
                f"last acknowledged {latest['report_id']} collected {latest['collected_at']} "
                f"{received.get(latest['report_id'])}"
            )
        assert software.get(host.id, 0) == len(latest["software"]), agent.machine
    # Nothing was stored that no agent had acknowledged (every stored report was resent until
    # answered, so a report stored by a replica killed before answering is acknowledged too).
    acked = {r["report_id"] for a in fleet.agents for r in a.acked}
    assert set(receipts) == acked
