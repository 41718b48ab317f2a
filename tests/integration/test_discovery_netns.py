"""Network discovery in network namespaces that the test creates: a bridge, a scanner and
three hosts with known MACs, addresses from 198.18.0.0/15 (benchmarking range) inside the
namespaces only. Discovery runs inside the scanner's namespace (``ip netns exec``), so no
packet leaves the test's namespaces; the collector (`inventar-collector serve`) listens on
that namespace's loopback."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.collector.helpers import make_report
from tests.collector_cli import run_cli
from tests.needs import missing

BIN = Path(sys.executable).parent
COLLECTOR = str(BIN / "inventar-collector")
AGENT = str(BIN / "inventar-agent")

NETWORK = "198.18.0.0/24"
SCANNER = ("198.18.0.1", "02:00:5e:10:00:01")  # locally administered: no vendor
# OUIs registered to known vendors in the IEEE registry that netaddr ships.
HOSTS = {
    "h1": ("198.18.0.11", "00:1b:21:3a:00:11", "Intel Corporate"),
    "h2": ("198.18.0.12", "3c:d9:2b:3a:00:12", "Hewlett Packard"),
    "h3": ("198.18.0.13", "b8:27:eb:3a:00:13", "Raspberry Pi Foundation"),
}
OPEN_PORT = 80  # a listener in h2's namespace

_HTTP = """
import json, sys, urllib.error, urllib.request
a = json.load(sys.stdin)
data = json.dumps(a["body"]).encode() if a["body"] is not None else None
req = urllib.request.Request(a["url"], data=data, method=a["method"])
req.add_header("Content-Type", "application/json")
if a["token"]:
    req.add_header("Authorization", "Bearer " + a["token"])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(req, timeout=10) as r:
        print(json.dumps([r.status, r.read().decode()]))
except urllib.error.HTTPError as e:
    print(json.dumps([e.code, e.read().decode()]))
except OSError as e:
    print(json.dumps([0, str(e)]))
"""

# The agent service's scheduled discovery job, run once (argv: state dir, network).
_DISCOVERY_JOB = """
import logging, sys
from pathlib import Path
from agent.config import AgentConfig
from agent.scheduler import Service
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
config = AgentConfig(discovery_interface="eth0", discovery_cidr=sys.argv[2])
Service(config, Path(sys.argv[1]), machine=lambda: None).job_discovery()
"""


def sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {done.returncode}: {done.stderr}{done.stdout}")
    return done


@dataclass
class Lab:
    suffix: str
    tmp: Path
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, name: str) -> str:
        return f"inv{name}-{self.suffix}"

    def exec(self, name: str, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ns(name), *argv, **kw)

    def popen(self, name: str, *argv: str, log: str) -> subprocess.Popen[bytes]:
        out = (self.tmp / log).open("wb")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(name), *argv], stdout=out, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def http(
        self, method: str, url: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns("scan"), sys.executable, "-c", _HTTP],
            input=json.dumps({"method": method, "url": url, "token": token, "body": body}),
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        status, text = json.loads(done.stdout)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


def _build(lab: Lab) -> None:
    lan = lab.ns("lan")
    for name in ("lan", "scan", *HOSTS):
        sh("ip", "netns", "add", lab.ns(name))
        lab.namespaces.append(lab.ns(name))
        sh("ip", "-n", lab.ns(name), "link", "set", "lo", "up")
    sh("ip", "-n", lan, "link", "add", "br0", "type", "bridge", "stp_state", "0")
    sh("ip", "-n", lan, "link", "set", "br0", "up")
    members = {"scan": SCANNER, **{h: (ip, mac) for h, (ip, mac, _v) in HOSTS.items()}}
    for i, (name, (ip, mac)) in enumerate(members.items()):
        ns = lab.ns(name)
        port = f"p{i}"
        # Both ends are created inside the namespaces: nothing touches the host's network.
        sh("ip", "-n", lan, "link", "add", port, "type", "veth", "peer", "name", "eth0",
           "netns", ns)  # fmt: skip
        sh("ip", "-n", lan, "link", "set", port, "master", "br0")
        sh("ip", "-n", lan, "link", "set", port, "up")
        sh("ip", "-n", ns, "link", "set", "eth0", "address", mac)
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if shutil.which("ip") is None:
        missing("iproute2 (`ip`): apt-get install iproute2")
    if os.geteuid() != 0:
        missing("network namespaces need root")
    lab = Lab(secrets.token_hex(3), tmp_path)
    try:
        _build(lab)
        yield lab
    finally:
        for proc in lab.procs:
            proc.terminate()
        for proc in lab.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for ns in reversed(lab.namespaces):
            sh("ip", "netns", "del", ns, check=False)


def _listen(lab: Lab) -> None:
    ip = HOSTS["h2"][0]
    script = (
        "import socket, time\n"
        f"s = socket.create_server(({ip!r}, {OPEN_PORT}))\n"
        "print('listening', flush=True)\n"
        "while True:\n    c, _ = s.accept(); c.close()\n"
    )
    lab.popen("h2", sys.executable, "-c", script, log="listener.log")
    deadline = time.monotonic() + 10
    while "listening" not in (lab.tmp / "listener.log").read_text():
        assert time.monotonic() < deadline, (lab.tmp / "listener.log").read_text()
        time.sleep(0.05)


def _discover(lab: Lab, *extra: str) -> subprocess.CompletedProcess[str]:
    return lab.exec(
        "scan", AGENT, "discover", "--interface", "eth0", "--cidr", NETWORK,
        "--rate", "1000", "--wait", "1.5", *extra, check=False,
    )  # fmt: skip


def test_discovery_finds_the_three_hosts_and_sends_them(lab: Lab) -> None:
    _listen(lab)

    # A collector on the scanner namespace's loopback.
    db_url = f"sqlite:///{lab.tmp / 'inventar.db'}"

    def cli(*argv: str) -> str:  # the admin's setup, in this process (tests/collector_cli.py)
        done = run_cli(list(argv), db_url)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    cli("sites", "add", "GS Nord", "--kind", "school")
    secret = cli("enroll-secret", "create", "--site", "GS Nord")
    viewer = cli("token", "create", "--role", "viewer")
    port = 8740
    url = f"http://127.0.0.1:{port}"
    lab.popen(
        "scan", COLLECTOR, "serve", "--port", str(port), "--database-url", db_url,
        "--log-level", "warning", log="collector.log",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while lab.http("GET", f"{url}/readyz")[0] != 200:
        assert time.monotonic() < deadline, (lab.tmp / "collector.log").read_text()
        time.sleep(0.2)

    # Discovery alone: exactly the three hosts, with vendors and the open port.
    done = _discover(lab, "--format", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["cidr"] == NETWORK and found["interface"] == "eth0"
    devices = {d["mac"]: d for d in found["devices"]}
    assert set(devices) == {mac for _ip, mac, _v in HOSTS.values()}  # nothing else answers
    for ip, mac, vendor in HOSTS.values():
        d = devices[mac]
        assert d["ip"] == ip and d["vendor"] == vendor
        assert d["open_ports"] == ([OPEN_PORT] if ip == HOSTS["h2"][0] else []), d

    # An enrolled agent whose host has h1's MAC makes h1 "managed".
    status, answer = lab.http(
        "POST", f"{url}/api/v1/enroll", body={"secret": secret, "machine_id": "pc-h1"}
    )
    assert status == 200, answer
    report = make_report("pc-h1", "pc-h1")
    report["network"]["interfaces"][0]["mac"] = HOSTS["h1"][1].upper().replace(":", "-")
    status, answer = lab.http("POST", f"{url}/api/v1/reports", answer["token"], report)
    assert status == 201, answer

    # The scanner's agent enrolls and sends its discovery.
    state = lab.tmp / "agent-state"
    lab.exec("scan", AGENT, "enroll", "--server", url, "--secret", secret,
             "--state-dir", str(state))  # fmt: skip
    done = _discover(lab, "--send", "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    assert "sent: 3 device(s), 3 new, site GS Nord" in done.stderr
    assert "Raspberry Pi Foundation" in done.stdout  # the table

    status, page = lab.http("GET", f"{url}/api/v1/devices", viewer)
    assert status == 200, page
    assert page["total"] == 3
    items = {i["mac"]: i for i in page["items"]}
    for name, (ip, mac, vendor) in HOSTS.items():
        item = items[mac]
        assert item["ip"] == ip and item["vendor"] == vendor and item["site"] == "GS Nord"
        assert item["managed"] is (name == "h1")
        assert item["open_ports"] == ([OPEN_PORT] if name == "h2" else [])
        assert item["first_seen"] and item["last_seen"]
    status, page = lab.http("GET", f"{url}/api/v1/devices?managed=false&site=GS%20Nord", viewer)
    assert status == 200 and {i["mac"] for i in page["items"]} == {
        HOSTS["h2"][1],
        HOSTS["h3"][1],
    }
    status, metrics = lab.http("GET", f"{url}/metrics/inventory")
    assert status == 200
    assert 'inventar_devices_unmanaged{site="GS Nord"} 2.0' in metrics

    # The service's scheduled job sweeps and sends the same way, to the enrolled collector.
    done = lab.exec("scan", sys.executable, "-c", _DISCOVERY_JOB, str(state), NETWORK)
    assert "discovery sent: 3 device(s), 0 new" in done.stderr, done.stderr
    status, page = lab.http("GET", f"{url}/api/v1/devices", viewer)
    assert status == 200 and page["total"] == 3
    for item in page["items"]:
        assert item["last_seen"] > items[item["mac"]]["last_seen"]  # seen again
