"""Agentless collection against a real OpenSSH server that the test starts on 127.0.0.1 (its
own host key, a test user key, root login by key only in that config): the report collected
over SSH agrees with the local agent's; wrong host keys and wrong user keys are refused with
clear messages; a hung host does not hold up the others."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.schema import to_data
from tests.integration.test_collector_e2e import free_port
from tests.needs import missing

SSHD = "/usr/sbin/sshd"
BIN = Path(sys.executable).parent
COLLECTOR = str(BIN / "inventar-collector")


@dataclass
class Sshd:
    port: int
    dir: Path
    host_pub: Path
    user_key: Path
    proc: subprocess.Popen[bytes]

    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-lf", str(self.host_pub)], capture_output=True, text=True, check=True
        ).stdout
        return out.split()[1]


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "inventar-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not answer: {log.read_text()}")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        missing("OpenSSH server (/usr/sbin/sshd, ssh-keygen): apt-get install openssh-server")
    if os.geteuid() != 0:
        missing("the SSH tests log in as the user running them; sshd needs root here")
    base = tmp_path_factory.mktemp("sshd")
    host_key = keygen(base / "host_key")
    user_key = keygen(base / "user_key")
    (base / "authorized_keys").write_text((base / "user_key.pub").read_text())
    port = free_port()
    config = base / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {base / 'sshd.pid'}\nAuthorizedKeysFile {base / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nSubsystem sftp internal-sftp\nMaxStartups 50\nMaxSessions 20\n"
        "LogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    log = base / "sshd.log"
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        _wait_for_banner(port, proc, log)
        yield Sshd(port, base, base / "host_key.pub", user_key, proc)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def db(tmp_path: Path):
    from collector.db import Database
    from collector.services import add_site

    database = Database(f"sqlite:///{tmp_path / 'inventar.db'}")
    database.upgrade()
    with database.session() as s:
        add_site(s, "Rathaus", "town-hall")
    return database


def _settings(known_hosts: Path, **overrides: float):
    from collector.ssh.settings import SshSettings

    values: dict[str, Any] = {"connect_timeout": 5.0, "timeout": 120.0, "probe_timeout": 60.0}
    return SshSettings.model_validate({"known_hosts": known_hosts, **values, **overrides})


def _target(db, sshd: Sshd, **fields):
    from collector.ssh.targets import TargetSpec, add_target

    spec = TargetSpec(
        host=fields.pop("host", "127.0.0.1"),
        port=fields.pop("port", sshd.port),
        user="root",
        site="Rathaus",
        key_file=fields.pop("key_file", sshd.user_key),
        known_hosts=fields.pop("known_hosts", None),
    )
    with db.session() as s:
        return add_target(s, spec)


def test_cli_collects_this_machine_like_the_local_agent(sshd: Sshd, tmp_path: Path) -> None:
    from agent.context import live_machine
    from agent.report import Selection, collect

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    known = tmp_path / "known_hosts"
    env = {**os.environ, "INVENTAR_DATABASE_URL": url, "INVENTAR_SSH_CONNECT_TIMEOUT": "5"}

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [COLLECTOR, *argv], capture_output=True, text=True, timeout=120, env=env, check=False
        )

    assert cli("sites", "add", "Rathaus", "--kind", "town-hall").returncode == 0
    add = [
        "ssh", "add", "--host", "127.0.0.1", "--port", str(sshd.port), "--user", "root",
        "--key", str(sshd.user_key), "--site", "Rathaus", "--known-hosts", str(known),
        "--role", "server",
    ]  # fmt: skip
    done = cli(*add, "--trust-on-first-use")
    assert done.returncode == 0, done.stderr
    assert sshd.fingerprint() in done.stdout  # the trusted key is shown by its fingerprint
    assert f"[127.0.0.1]:{sshd.port} ssh-ed25519 " in known.read_text()

    # The local agent's view before and after (another process may install packages meanwhile).
    before = collect(live_machine(), Selection(only=frozenset({"software"}))).software or []
    done = cli("ssh", "collect", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: stored" in done.stdout, done.stdout
    listed = cli("ssh", "list").stdout
    assert f"root@[127.0.0.1]:{sshd.port}\tRathaus\tkey {sshd.user_key}" in listed
    assert "ok" in listed

    from sqlmodel import select

    from collector.current_state import current_reports
    from collector.db import Database
    from collector.models import Host, HostHistory, SshTarget

    with Database(url).session() as s:
        (record,) = s.exec(select(HostHistory)).all()
        host = s.exec(select(Host)).one()
        target = s.exec(select(SshTarget)).one()
        assert host.id is not None
        remote = current_reports(s.connection(), [host.id])[host.id]
    assert record.source == "ssh" and record.snapshot and host.agent_id is None
    assert target.host_id == host.id and target.last_error is None
    # only the key file's path is stored, never a secret
    assert target.key_file == str(sshd.user_key) and target.password_env is None

    local = to_data(collect(live_machine()))
    assert remote["host"]["machine_id"] == local["host"]["machine_id"]
    assert remote["host"]["site"] == "Rathaus" and remote["host"]["role"] == "server"
    assert remote["os"]["name"] == local["os"]["name"]
    assert remote["os"]["version"] == local["os"]["version"]
    assert remote["os"]["kernel"] == local["os"]["kernel"]
    assert remote["hardware"]["memory_bytes"] == local["hardware"]["memory_bytes"]
    assert remote["hardware"]["memory_bytes"] > 0
    assert len(remote["software"]) in (len(before), len(local["software"]))
    assert len(remote["software"]) > 0
    assert remote["hardware"]["cpu_threads"] == local["hardware"]["cpu_threads"]
    local_macs = {i["mac"] for i in local["network"]["interfaces"] if i["mac"]}
    assert {i["mac"] for i in remote["network"]["interfaces"] if i["mac"]} == local_macs
    ports = {(s["proto"], s["port"]) for s in remote["network"]["listening"]}
    assert ("tcp", sshd.port) in ports  # the test's sshd listens there

    done = cli("ssh", "remove", "--host", "127.0.0.1", "--port", str(sshd.port))
    assert done.returncode == 0, done.stderr


def test_unknown_and_changed_host_keys_are_refused(sshd: Sshd, db, tmp_path: Path) -> None:
    from collector.ssh.collect import collect_all

    target = _target(db, sshd)
    real = sshd.fingerprint()
    from collector.services import ServiceError

    with pytest.raises(ServiceError, match="is a target already"):
        _target(db, sshd)  # one target per host and port

    empty = tmp_path / "empty_known_hosts"
    (outcome,) = collect_all(db, _settings(empty))
    assert not outcome.ok
    assert f"[127.0.0.1]:{sshd.port}: unknown host key ssh-ed25519 {real}" in outcome.message

    other = keygen(tmp_path / "other_host_key")
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {Path(str(other) + '.pub').read_text()}")
    (outcome,) = collect_all(db, _settings(wrong))
    assert not outcome.ok
    assert "host key CHANGED" in outcome.message and real in outcome.message
    assert "refusing" in outcome.message
    with db.session() as s:
        from collector.models import SshTarget

        stored = s.get(SshTarget, target.id)
        assert stored is not None and stored.last_error == outcome.message
        assert stored.last_success_at is None


def test_a_wrong_user_key_is_refused(sshd: Sshd, db, tmp_path: Path) -> None:
    from collector.ssh.collect import collect_all
    from collector.ssh.session import trust_on_first_use

    known = tmp_path / "known_hosts"
    fp, added = trust_on_first_use("127.0.0.1", sshd.port, known)
    assert added and fp == sshd.fingerprint()
    assert trust_on_first_use("127.0.0.1", sshd.port, known) == (fp, False)
    stranger = keygen(tmp_path / "stranger_key")
    _target(db, sshd, key_file=stranger, known_hosts=known)
    (outcome,) = collect_all(db, _settings(known))
    assert not outcome.ok
    assert f"root@[127.0.0.1]:{sshd.port}: authentication failed (key {stranger})" in (
        outcome.message
    )


def test_trust_on_first_use_refuses_a_key_of_another_type(sshd: Sshd, db, tmp_path: Path) -> None:
    """The attack: known_hosts knows the target by an ECDSA key; whoever answers when the
    target is added again offers an Ed25519 key. Trust on first use must not add it."""
    from collector.ssh.session import SshError, trust_on_first_use

    ecdsa = tmp_path / "ecdsa_host_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(ecdsa)],
        check=True,
        capture_output=True,
    )
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {Path(str(ecdsa) + '.pub').read_text()}")
    before = known.read_text()
    ecdsa_fp = subprocess.run(
        ["ssh-keygen", "-lf", str(ecdsa) + ".pub"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    with pytest.raises(SshError) as refused:
        trust_on_first_use("127.0.0.1", sshd.port, known)
    message = refused.value.message
    assert "refusing to trust it" in message
    assert f"offers ssh-ed25519 {sshd.fingerprint()}" in message
    assert f"ecdsa-sha2-nistp256 {ecdsa_fp}" in message
    assert known.read_text() == before  # nothing added

    # The CLI says the same and adds no target.
    done = subprocess.run(
        [COLLECTOR, "ssh", "add", "--host", "127.0.0.1", "--port", str(sshd.port), "--user",
         "root", "--site", "Rathaus", "--key", str(sshd.user_key), "--known-hosts", str(known),
         "--trust-on-first-use", "--database-url", f"sqlite:///{tmp_path / 'inventar.db'}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "refusing to trust it" in done.stderr and ecdsa_fp in done.stderr
    assert known.read_text() == before
    from sqlmodel import select

    from collector.models import SshTarget

    with db.session() as s:
        assert s.exec(select(SshTarget)).all() == []


def test_a_hung_host_does_not_hold_up_the_others(sshd: Sshd, db, tmp_path: Path) -> None:
    from collector.ssh.collect import collect_all
    from collector.ssh.session import trust_on_first_use

    # A TCP listener that accepts and never says a word.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    hung_port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    known = tmp_path / "known_hosts"
    trust_on_first_use("127.0.0.1", sshd.port, known)
    _target(db, sshd, port=hung_port, known_hosts=known)
    _target(db, sshd, known_hosts=known)
    started = time.monotonic()
    try:
        outcomes = collect_all(db, _settings(known, connect_timeout=3.0, parallel=2))
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    elapsed = time.monotonic() - started
    by_port = {o.port: o for o in outcomes}
    hung, good = by_port[hung_port], by_port[sshd.port]
    assert good.ok, good.message
    assert not hung.ok
    assert f"[127.0.0.1]:{hung_port}" in hung.message and "3 s" in hung.message
    assert hung.seconds < 15
    # both ran at the same time: the round took about as long as the longer of the two
    assert elapsed < good.seconds + hung.seconds


def test_serve_collects_on_a_schedule(db, tmp_path: Path, monkeypatch) -> None:
    """The scheduled job inside the app's lifespan runs (here: against a closed port)."""
    from fastapi.testclient import TestClient
    from sqlmodel import select

    from collector.main import create_app
    from collector.models import SshTarget
    from collector.settings import Settings
    from collector.ssh.targets import TargetSpec, add_target

    key = keygen(tmp_path / "key")
    closed = free_port()
    with db.session() as s:
        add_target(s, TargetSpec(host="127.0.0.1", port=closed, user="root", site="Rathaus",
                                 key_file=key, known_hosts=tmp_path / "kh"))  # fmt: skip
    monkeypatch.setenv("INVENTAR_SSH_FIRST_DELAY", "0")
    monkeypatch.setenv("INVENTAR_SSH_CONNECT_TIMEOUT", "2")
    app = create_app(Settings(database_url=str(db.engine.url)), db)
    with TestClient(app):
        deadline = time.monotonic() + 20
        while True:
            with db.session() as s:
                target = s.exec(select(SshTarget)).one()
            if target.last_error or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert target.last_attempt_at is not None
    assert f"[127.0.0.1]:{closed}: cannot connect" in (target.last_error or "")


def test_output_sent_after_the_exit_status_is_not_lost(sshd: Sshd, tmp_path: Path) -> None:
    """sshd reports the exit status when the command exits; output a child writes later still
    belongs to the command (a runner that stopped at the exit status lost the end of long
    outputs such as dpkg-query's)."""
    from collector.ssh.runner import SshRunner
    from collector.ssh.session import Credentials, connect, trust_on_first_use

    known = tmp_path / "known_hosts"
    trust_on_first_use("127.0.0.1", sshd.port, known)
    session = connect("127.0.0.1", sshd.port, Credentials("root", str(sshd.user_key)), known)
    try:
        result = SshRunner(session).run(["sh", "-c", "(sleep 1; echo late) & echo early"])
    finally:
        session.close()
    assert result.exit_code == 0
    assert result.stdout.split() == ["early", "late"]


@pytest.mark.parametrize("files", ["sftp", "exec"])
def test_a_lost_connection_is_an_error_not_a_missing_package_manager(
    sshd: Sshd, tmp_path: Path, files: str
) -> None:
    """With the connection gone, "is /usr/bin/apt there?" has no answer: the patch probe
    must say it could not read the machine, never that it has no package manager."""
    from agent.context import Machine
    from agent.report import Selection, collect
    from collector.ssh.calls import ProcCalls
    from collector.ssh.files import ExecFiles, SftpFiles
    from collector.ssh.runner import SshRunner
    from collector.ssh.session import Credentials, connect, trust_on_first_use

    known = tmp_path / "known_hosts"
    trust_on_first_use("127.0.0.1", sshd.port, known)
    session = connect("127.0.0.1", sshd.port, Credentials("root", str(sshd.user_key)), known)
    runner = SshRunner(session)
    source = SftpFiles(session) if files == "sftp" else ExecFiles(runner)
    assert source.exists("/etc/passwd") and not source.exists("/no/such/file")
    if files == "sftp":
        session.sftp()  # opened while connected, as a collection has it
    session.close()
    machine = Machine(runner, source, ProcCalls(runner, source), "linux")
    report = collect(machine, Selection(only=frozenset({"patches"})))
    errors = [e.message for e in report.collection.errors if e.probe == "patches"]
    assert report.patches is None
    assert errors and all("package manager" not in e for e in errors), errors
    assert any("cannot read the machine" in e for e in errors), errors
