"""The agent against a real collector process: the outbox survives outages and SIGKILL at
any point of a send; revocation stops sending; a collector that lost the base gets a full
report; TLS is verified; the service sends on its schedule and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agent_service.conftest import (
    AGENT,
    Collector,
    agent_env,
    bundle_machine_id,
    enrolled,
    make_site,
    run_agent,
)

REPO = Path(__file__).resolve().parents[2]  # where `tests` is importable from


def once(
    state: Path, bundle: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_agent("run", "--once", "--replay", str(bundle), "--state-dir", str(state),
                     *extra, env=env)  # fmt: skip


def queued_ids(state: Path) -> list[str]:
    return [
        json.loads(p.read_text())["report"]["report_id"]
        for p in sorted((state / "spool").glob("*.json"))
    ]


def sent(stdout: str) -> list[tuple[str, str]]:
    out = []
    for line in stdout.splitlines():
        if line.startswith("report "):
            report_id, status = line.removeprefix("report ").split(": ")
            out.append((report_id, status))
    return out


def test_outage_queues_reports_and_they_arrive_in_order_once(
    bundle: Path, tmp_path: Path, collector: Collector
) -> None:
    site, state = enrolled(collector, bundle, tmp_path)
    collector.stop()
    for _ in range(3):
        done = once(state, bundle)
        assert done.returncode == 75, done.stderr  # queued, not sent (EX_TEMPFAIL)
        assert "queued" in done.stderr
    ids = queued_ids(state)
    assert len(ids) == 3
    status = run_agent("status", "--state-dir", str(state))
    assert "queue:         3 report(s)" in status.stdout
    assert "Connection refused" in status.stdout  # the last error

    collector.start()  # same port, same database
    done = once(state, bundle)
    assert done.returncode == 0, done.stderr
    delivered = sent(done.stdout)
    assert [r for r, _ in delivered][:3] == ids and len(delivered) == 4
    assert {s for _, s in delivered} == {"stored"}
    history = site.history()
    assert [h["report_id"] for h in history] == [r for r, _ in delivered]  # in order
    assert len({h["report_id"] for h in history}) == 4  # none twice
    assert len(history[0]["changed_sections"]) > 5 and history[1]["changed_sections"] == []
    assert queued_ids(state) == []
    out = run_agent("status", "--state-dir", str(state)).stdout
    assert "queue:         0 report(s)" in out and "(full, delta) stored" in out


@pytest.mark.parametrize("point", ["after-spool", "after-request", "after-ack"])
def test_sigkill_during_a_send_loses_and_duplicates_nothing(
    bundle: Path, tmp_path: Path, collector: Collector, point: str
) -> None:
    site, state = enrolled(collector, bundle, tmp_path)
    assert once(state, bundle).returncode == 0  # a base exists: the next one is a delta
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.agent_service.paused_agent", point, str(marker),
         "run", "--once", "--replay", str(bundle), "--state-dir", str(state)],
        env=agent_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the agent never reached the pause point"
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no cleanup of any kind
    proc.wait(10)
    pending = queued_ids(state)
    assert len(pending) == 1  # the killed cycle's report is still in the outbox

    done = once(state, bundle)  # the restarted agent
    assert done.returncode == 0, done.stderr
    delivered = sent(done.stdout)
    assert delivered[0][0] == pending[0] and len(delivered) == 2
    # the collector had it already if the kill came after the request
    expected = "stored" if point == "after-spool" else "duplicate"
    assert delivered[0][1] == expected
    history = [h["report_id"] for h in site.history()]
    assert len(history) == 3 and len(set(history)) == 3
    assert history[1] == pending[0] and history[2] == delivered[1][0]
    assert queued_ids(state) == []


def test_a_revoked_token_stops_sending_and_status_says_why(
    bundle: Path, tmp_path: Path, collector: Collector
) -> None:
    site, state = enrolled(collector, bundle, tmp_path)
    assert once(state, bundle).returncode == 0
    agent_id = json.loads((state / "agent.json").read_text())["agent_id"]
    collector.cli("agents", "revoke", agent_id)
    done = once(state, bundle)
    assert done.returncode == 1 and "401" in done.stderr and "enroll again" in done.stderr
    assert len(queued_ids(state)) == 1  # kept, not dropped
    status = run_agent("status", "--state-dir", str(state))
    assert status.returncode == 1
    assert "STOPPED" in status.stdout and "401" in status.stdout
    # and it does not even try again until enrolled anew
    done = once(state, bundle)
    assert done.returncode == 1 and "not sending" in done.stderr
    assert len(site.history()) == 1


def test_a_collector_restored_from_backup_gets_a_full_report(
    bundle: Path, tmp_path: Path, collector: Collector
) -> None:
    site, state = enrolled(collector, bundle, tmp_path)
    collector.stop()
    backup = tmp_path / "backup"
    backup.mkdir()
    for f in tmp_path.glob("inventar.db*"):
        shutil.copy2(f, backup / f.name)
    collector.start()
    assert once(state, bundle).returncode == 0
    assert once(state, bundle).returncode == 0
    collector.stop()
    for f in tmp_path.glob("inventar.db*"):
        f.unlink()
    for f in backup.iterdir():
        shutil.copy2(f, tmp_path / f.name)  # the host's reports are gone
    collector.start()
    done = once(state, bundle)
    assert done.returncode == 0, done.stderr
    assert "lacks the base" in done.stderr
    history = site.history()
    assert len(history) == 1 and len(history[0]["changed_sections"]) > 5  # a full report
    view = site.host_view()
    assert view["report"]["software"] and view["report"]["hardware"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_tls_certificate_problem_then_ca_file(bundle: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    collector = Collector(tmp_path, tls=(cert, key))
    collector.start()
    try:
        site = make_site(collector)
        state = tmp_path / "state"
        site.enroll(state, bundle_machine_id(bundle), ca_file=None)  # system trust store
        done = once(state, bundle)
        assert done.returncode == 75
        assert "certificate verify failed" in done.stderr
        assert "certificate problem" in done.stderr
        status = run_agent("status", "--state-dir", str(state)).stdout
        assert "certificate verify failed" in status
        done = once(state, bundle, "--ca-file", str(cert))
        assert done.returncode == 0, done.stderr
        assert len(sent(done.stdout)) == 2 and len(site.history()) == 2
    finally:
        collector.stop()


def test_the_service_sends_on_its_schedule_and_stops_on_sigterm(
    bundle: Path, tmp_path: Path, collector: Collector
) -> None:
    site, state = enrolled(collector, bundle, tmp_path)
    env = agent_env(
        INVENTAR_AGENT_SPLAY="0", INVENTAR_AGENT_STATUS_INTERVAL="1",
        INVENTAR_AGENT_FULL_INTERVAL="1h", INVENTAR_AGENT_PATCH_INTERVAL="1h",
    )  # fmt: skip
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen(
        [AGENT, "run", "--replay", str(bundle), "--state-dir", str(state)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 40
        while len(site.history()) < 3:
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "agent.log").read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    history = site.history()
    assert len(history[0]["changed_sections"]) > 5  # the full inventory first
    assert all(h["changed_sections"] == [] for h in history[1:])  # then light deltas
    text = (tmp_path / "agent.log").read_text()
    assert "service started" in text and "(light, delta): stored" in text
    assert os.path.exists(state / "base.json")


# The service's jobs as `inventar-agent run` runs them, one after the other in one process.
_JOBS = """
import json, sys
from pathlib import Path
from agent import delta
from agent.bundle import open_bundle
from agent.config import AgentConfig
from agent.scheduler import Service

state, bundle = Path(sys.argv[1]), Path(sys.argv[2])
service = Service(AgentConfig(send_attempts=1), state, lambda: open_bundle(bundle))
service.job_full()
after_full = sorted(m for m in sys.modules if m.startswith("agent.probes."))
queued_after_full = len(service.spool)
base = delta.load_base(state)
service.job_status()
print(json.dumps({"probes_after_full": after_full, "queued_after_full": queued_after_full,
                  "base": base.report_id if base else None, "queued": len(service.spool)}))
"""


def test_the_services_full_inventory_runs_in_a_child_that_takes_its_probes_along(
    bundle: Path, tmp_path: Path, collector: Collector
) -> None:
    site, state = enrolled(collector, bundle, tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _JOBS, str(state), str(bundle)],
        capture_output=True, text=True, timeout=120, env=agent_env(), cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # The full inventory's probes were imported in the child only: the service has none.
    assert result["probes_after_full"] == []
    # What the child did is the service's: its report left the outbox, its base is the
    # one the next status report (in the service itself) is a delta on.
    assert result["queued_after_full"] == 0 and result["queued"] == 0
    history = site.history()
    assert len(history) == 2 and len(history[0]["changed_sections"]) > 5
    assert result["base"] == history[0]["report_id"]  # the child's full inventory
    last = json.loads((state / "status.json").read_text())["last_success"]
    assert last["kind"] == "light" and last["delta"] is True
