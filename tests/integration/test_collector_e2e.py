"""End to end: a real collector (uvicorn subprocess) and real agents (`inventar-agent enroll`,
`run --once` subprocesses), on SQLite and PostgreSQL, read back through the API."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.collector.helpers import BACKENDS, database_url, make_report

BIN = Path(sys.executable).parent
COLLECTOR = str(BIN / "inventar-collector")
AGENT = str(BIN / "inventar-agent")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)


def http(
    method: str, url: str, token: str | None = None, body: Any = None, cafile: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    import ssl

    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class Server:
    url: str
    db_url: str
    proc: subprocess.Popen[bytes]
    cafile: str | None = None

    def cli(self, *argv: str) -> str:
        env = {**os.environ, "INVENTAR_DATABASE_URL": self.db_url}
        done = run(COLLECTOR, *argv, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]


def start_server(db_url: str, tmp: Path, tls: tuple[Path, Path] | None = None) -> Server:
    port = free_port()
    argv = [COLLECTOR, "serve", "--port", str(port), "--database-url", db_url]
    argv += ["--log-level", "warning", "--decode-workers", "1"]
    scheme = "http"
    if tls:
        argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        scheme = "https"
    log = (tmp / f"collector-{port}.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    server = Server(f"{scheme}://127.0.0.1:{port}", db_url, proc, str(tls[0]) if tls else None)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((tmp / f"collector-{port}.log").read_text())
        try:
            if http("GET", f"{server.url}/readyz", cafile=server.cafile)[0] == 200:
                return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("collector did not become ready")


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with database_url(request.param, tmp_path) as url:
        if request.param != "sqlite":
            assert run(COLLECTOR, "db", "upgrade", "--database-url", url).returncode == 0
        srv = start_server(url, tmp_path)
        try:
            yield srv
        finally:
            srv.proc.terminate()
            srv.proc.wait(10)


def test_enroll_run_once_and_read_back(server: Server, tmp_path: Path) -> None:
    server.cli("sites", "add", "GS Nord", "--kind", "school")
    secret = server.cli("enroll-secret", "create", "--site", "GS Nord")
    viewer = server.cli("token", "create", "--role", "viewer")
    state = tmp_path / "agent-state"

    bad = run(
        AGENT, "enroll", "--server", server.url, "--secret", "inv_enr_x", "--state-dir", str(state)
    )
    assert bad.returncode != 0 and "401" in bad.stderr
    assert not (state / "agent.json").exists()

    done = run(
        AGENT, "enroll", "--server", server.url, "--secret", secret, "--state-dir", str(state)
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((state / "agent.json").stat().st_mode) == 0o600
    agent_state = json.loads((state / "agent.json").read_text())

    done = run(AGENT, "run", "--once", "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    assert "stored" in done.stdout

    status, page = http("GET", f"{server.url}/api/v1/hosts", viewer)
    assert status == 200 and page["total"] == 1
    host = page["items"][0]
    assert host["site"] == "GS Nord" and host["machine_id"] == agent_state["machine_id"]
    status, detail = http("GET", f"{server.url}/api/v1/hosts/{host['id']}", viewer)
    assert status == 200
    assert detail["report"]["host"]["site"] == "GS Nord"
    assert detail["report"]["agent"]["id"] == agent_state["agent_id"]

    # the agent's token may not report another machine, nor read the API
    forged = make_report("someone-else")
    status, _ = http("POST", f"{server.url}/api/v1/reports", agent_state["token"], forged)
    assert status == 403
    assert http("GET", f"{server.url}/api/v1/hosts", agent_state["token"])[0] == 401
    assert http("GET", f"{server.url}/api/v1/hosts")[0] == 401

    # a hostile report does not take the collector down
    status, _ = http("POST", f"{server.url}/api/v1/reports", agent_state["token"], [[[]]] * 3)
    assert 400 <= status < 500
    assert http("GET", f"{server.url}/healthz")[0] == 200

    # revoked: the next run fails
    server.cli("agents", "revoke", agent_state["agent_id"])
    done = run(AGENT, "run", "--once", "--state-dir", str(state))
    assert done.returncode == 1 and "401" in done.stderr
    assert http("GET", f"{server.url}/api/v1/hosts/{host['id']}/reports", viewer)[1]["total"] == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_tls_with_ca_file(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    with database_url("sqlite", tmp_path) as url:
        server = start_server(url, tmp_path, (cert, key))
        try:
            server.cli("sites", "add", "Rathaus", "--kind", "town-hall")
            secret = server.cli("enroll-secret", "create", "--site", "Rathaus")
            state = str(tmp_path / "state")
            untrusted = run(
                AGENT, "enroll", "--server", server.url, "--secret", secret, "--state-dir", state
            )
            assert untrusted.returncode != 0 and "TLS" in untrusted.stderr
            done = run(
                AGENT, "enroll", "--server", server.url, "--secret", secret,
                "--state-dir", state, "--ca-file", str(cert),
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            done = run(AGENT, "run", "--once", "--state-dir", state)
            assert done.returncode == 0, done.stderr
        finally:
            server.proc.terminate()
            server.proc.wait(10)
