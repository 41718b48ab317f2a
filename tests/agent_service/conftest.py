"""Shared by the agent-service tests: a support bundle of this machine (so that every cycle
sees the same machine), real collector processes, enrolled state directories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent import state as agent_state
from tests.collector_cli import run_cli
from tests.integration.test_collector_e2e import free_port, http

BIN = Path(sys.executable).parent
COLLECTOR = str(BIN / "inventar-collector")
AGENT = str(BIN / "inventar-agent")


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A support bundle recorded from this machine once; agents replay it (`run --replay`)."""
    base = tmp_path_factory.mktemp("bundle")
    directory = base / "machine"
    done = subprocess.run(
        [AGENT, "collect", "--record", str(directory), "--output", str(base / "report.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return directory


def bundle_machine_id(bundle: Path) -> str:
    report = json.loads((bundle.parent / "report.json").read_text())
    return str(report["host"]["machine_id"])


@dataclass
class Collector:
    """`inventar-collector serve` on a fixed port and SQLite file; stop() and start() again."""

    tmp: Path
    port: int = field(default_factory=free_port)
    tls: tuple[Path, Path] | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.tmp / 'inventar.db'}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def cafile(self) -> str | None:
        return str(self.tls[0]) if self.tls else None

    def start(self) -> None:
        argv = [COLLECTOR, "serve", "--port", str(self.port), "--database-url", self.db_url]
        argv += ["--log-level", "warning"]
        if self.tls:
            argv += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        log = (self.tmp / "collector.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.tmp / "collector.log").read_text())
            try:
                if http("GET", f"{self.url}/readyz", cafile=self.cafile)[0] == 200:
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("collector did not become ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cli(self, *argv: str) -> str:
        """The admin's command (in this process: tests/collector_cli.py); its last line."""
        done = run_cli(list(argv), self.db_url)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def get(self, path: str, token: str) -> Any:
        status, body = http("GET", f"{self.url}{path}", token, cafile=self.cafile)
        assert status == 200, body
        return body


@dataclass
class Site:
    collector: Collector
    viewer: str
    secret: str

    def enroll(self, state_dir: Path, machine_id: str, ca_file: str | None = None) -> str:
        """Enrolls over the API (the bundle's machine id is not this machine's) and writes
        the agent's state as `inventar-agent enroll` would; returns the token."""
        status, answer = http(
            "POST",
            f"{self.collector.url}/api/v1/enroll",
            body={"secret": self.secret, "machine_id": machine_id, "hostname": "replayed"},
            cafile=self.collector.cafile,
        )
        assert status == 200, answer
        agent_state.save(
            state_dir,
            agent_state.AgentState(
                server=self.collector.url,
                agent_id=answer["agent_id"],
                token=answer["token"],
                machine_id=machine_id,
                site=answer.get("site"),
                ca_file=ca_file,
            ),
        )
        return str(answer["token"])

    def history(self) -> list[dict[str, Any]]:
        hosts = self.collector.get("/api/v1/hosts", self.viewer)["items"]
        if not hosts:
            return []
        assert len(hosts) == 1
        page = self.collector.get(f"/api/v1/hosts/{hosts[0]['id']}/reports", self.viewer)
        items: list[dict[str, Any]] = page["items"]
        return items

    def host_view(self) -> dict[str, Any]:
        hosts = self.collector.get("/api/v1/hosts", self.viewer)["items"]
        view: dict[str, Any] = self.collector.get(f"/api/v1/hosts/{hosts[0]['id']}", self.viewer)
        return view


def make_site(collector: Collector) -> Site:
    collector.cli("sites", "add", "GS Nord", "--kind", "school")
    secret = collector.cli("enroll-secret", "create", "--site", "GS Nord")
    viewer = collector.cli("token", "create", "--role", "viewer")
    return Site(collector, viewer, secret)


def enrolled(collector: Collector, bundle: Path, tmp_path: Path) -> tuple[Site, Path]:
    """A site on ``collector`` and an agent state directory enrolled there for the bundle's
    machine."""
    site = make_site(collector)
    state = tmp_path / "state"
    site.enroll(state, bundle_machine_id(bundle))
    return site, state


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def agent_env(**extra: str) -> dict[str, str]:
    """The agent's environment in tests: no config file, one send attempt, no proxies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTAR_AGENT_")}
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(proxy, None)
    env["INVENTAR_AGENT_CONFIG"] = os.devnull  # an empty TOML file: all defaults
    env["INVENTAR_AGENT_SEND_ATTEMPTS"] = "1"
    env.update(extra)
    return env


def run_agent(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENT, *argv], capture_output=True, text=True, timeout=timeout,
        env=env or agent_env(), check=False,
    )  # fmt: skip
