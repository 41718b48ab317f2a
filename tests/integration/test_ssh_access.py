"""Agentless collection on the hosts admins really have, against real OpenSSH servers that the
test starts: one without an SFTP subsystem and with ``PermitRootLogin no`` (users that may
sudo without a password, with a password, not at all; one whose commands are replaced by
nologin; one with a csh login shell), and a second sshd as jump host.

The users are real accounts of this machine (created here, removed afterwards), sudo is
Debian's sudo with a sudoers drop-in, and the facts are compared with the local agent's
(which runs as root on the same machine)."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.schema import object_data
from tests.integration.test_collector_e2e import free_port
from tests.integration.test_ssh import SSHD, _settings, _wait_for_banner, keygen
from tests.needs import missing

# Accounts of this machine, one set per test process (pytest-xdist runs several): the name
# ends in the worker's id, so that parallel workers never share or delete each other's.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
SHELLS = {  # role -> login shell
    "nopw": "/bin/sh",  # sudo NOPASSWD
    "pw": "/bin/sh",  # sudo with its password
    "nosudo": "/bin/sh",  # not in sudoers
    "nologin": "/bin/sh",  # its commands are replaced by nologin (ForceCommand)
    "csh": "/usr/bin/tcsh",  # a login shell that is not POSIX
}


def user(role: str) -> str:
    return f"inv-{role}-{WORKER}"


SUDOERS = Path(f"/etc/sudoers.d/inventar-test-{WORKER}")


@dataclass
class Lab:
    target_port: int  # no SFTP, PermitRootLogin no
    jump_port: int  # the jump host (AllowTcpForwarding yes)
    jump_log: Path
    key: Path
    password: str  # inv-pw's and inv-nosudo's (for sudo)
    known: Path
    base: Path
    sudo_log: Path  # sudo's log of the commands it ran


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _users(password: str, sudo_log: Path) -> None:
    for role, shell in SHELLS.items():
        name = user(role)
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            _run("useradd", "--create-home", "--shell", shell, name)
        # A locked account ("!" in shadow) may not log in at all, not even by key.
        _run("usermod", "--password", "*", name)
    # Passwords for sudo (inv-nosudo's proves that sudo says "not in the sudoers file").
    lines = f"{user('pw')}:{password}\n{user('nosudo')}:{password}\n"
    subprocess.run(["chpasswd"], input=lines.encode(), check=True)
    SUDOERS.write_text(
        f"{user('nopw')} ALL=(root) NOPASSWD: ALL\n{user('pw')} ALL=(root) ALL\n"
        # Every command sudo runs for these users, written where the test can read it.
        f"Defaults:{user('nopw')},{user('pw')} logfile={sudo_log}\n"
    )
    SUDOERS.chmod(0o440)
    _run("visudo", "-c", "-f", str(SUDOERS))


def _cleanup() -> None:
    SUDOERS.unlink(missing_ok=True)
    for role in SHELLS:
        # A login shell may still be ending (csh after its refusal): end it, then the user.
        subprocess.run(["pkill", "-KILL", "-u", user(role)], capture_output=True)
        subprocess.run(["userdel", "--force", "--remove", user(role)], capture_output=True)


def _sshd(
    base: Path, keys: Path, name: str, extra: str
) -> tuple[int, Path, subprocess.Popen[bytes]]:
    port = free_port()
    config = base / f"{name}_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / (name + '_host_key')}\n"
        f"PidFile {base / (name + '.pid')}\nAuthorizedKeysFile {keys}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nMaxStartups 50\nMaxSessions 20\n" + extra
    )
    keygen(base / f"{name}_host_key")
    log = base / f"{name}.log"
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    _wait_for_banner(port, proc, log)
    return port, log, proc


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        missing("OpenSSH server (/usr/sbin/sshd, ssh-keygen): apt-get install openssh-server")
    for tool in ("sudo", "tcsh", "useradd", "visudo"):
        if shutil.which(tool) is None:
            missing(f"{tool}: apt-get install sudo tcsh passwd")
    if os.geteuid() != 0:
        missing("the SSH access tests create users and start sshd: they need root")
    base = tmp_path_factory.mktemp("ssh-access")
    key = keygen(base / "user_key")
    # sshd reads authorized_keys as the user logging in: a place every user may read (the
    # test's temporary directory is root's own).
    shared = Path(f"/run/inventar-ssh-test-{WORKER}-{os.getpid()}")
    shared.mkdir(mode=0o755, exist_ok=True)
    keys = shared / "authorized_keys"
    keys.write_text((base / "user_key.pub").read_text())
    keys.chmod(0o644)
    password = secrets.token_urlsafe(16)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    procs = []
    try:
        _users(password, shared / "sudo.log")
        # The target: a hardened server. No Subsystem line: SFTP is refused.
        target_port, _, proc = _sshd(
            base, keys, "target",
            "PermitRootLogin no\nAllowTcpForwarding no\nLogLevel ERROR\n"
            f"Match User {user('nologin')}\n    ForceCommand /usr/sbin/nologin\n",
        )  # fmt: skip
        procs.append(proc)
        # The jump host at the town's data centre; it logs the channels it forwards.
        jump_port, jump_log, proc = _sshd(
            base, keys, "jump", "PermitRootLogin no\nAllowTcpForwarding yes\nLogLevel DEBUG1\n"
        )
        procs.append(proc)
        known = base / "known_hosts"
        from collector.ssh.session import trust_on_first_use

        trust_on_first_use("127.0.0.1", target_port, known)
        trust_on_first_use("127.0.0.1", jump_port, known)
        yield Lab(target_port, jump_port, jump_log, key, password, known, base,
                  shared / "sudo.log")  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        _cleanup()
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture
def db(tmp_path: Path) -> Any:
    from collector.db import Database
    from collector.services import add_site

    database = Database(f"sqlite:///{tmp_path / 'inventar.db'}")
    database.upgrade()
    with database.session() as s:
        add_site(s, "Rathaus", "town-hall")
    return database


def add(db: Any, lab: Lab, role: str, **options: Any) -> Any:
    from collector.ssh.targets import TargetSpec, add_target

    spec = TargetSpec(host=options.pop("host", "127.0.0.1"), port=lab.target_port,
                      user=user(role), site="Rathaus", key_file=lab.key, known_hosts=lab.known,
                      **options)  # fmt: skip
    with db.session() as s:
        return add_target(s, spec)


def collect_one(db: Any, lab: Lab) -> tuple[Any, dict[str, Any] | None]:
    """The one target's outcome and the host's state it stored (None if nothing was)."""
    from collector.current_state import current_reports
    from collector.ssh.collect import collect_all

    (outcome,) = collect_all(db, _settings(lab.known))
    if outcome.host_id is None:
        return outcome, None
    with db.engine.connect() as conn:
        return outcome, current_reports(conn, [outcome.host_id]).get(outcome.host_id)


@pytest.fixture(scope="module")
def local() -> dict[str, Any]:
    """This machine as the local agent (running as root) sees it."""
    from agent.context import live_machine
    from agent.report import collect

    return object_data(collect(live_machine()))


def errors_of(report: dict[str, Any], probe: str) -> str:
    return " | ".join(e["message"] for e in report["collection"]["errors"] if e["probe"] == probe)


def test_without_sftp_the_report_agrees_with_the_local_agent(
    lab: Lab, db: Any, local: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    add(db, lab, "nosudo")
    with caplog.at_level(logging.INFO, logger="collector.ssh.access"):
        outcome, report = collect_one(db, lab)
        again, _ = collect_one(db, lab)
    assert outcome.ok and again.ok, outcome.message
    assert "files via exec (cat, ls, stat): no SFTP" in outcome.message
    assert report is not None
    assert report["host"]["machine_id"] == local["host"]["machine_id"]
    assert report["os"]["name"] == local["os"]["name"]
    assert report["os"]["version"] == local["os"]["version"]
    assert report["hardware"]["memory_bytes"] == local["hardware"]["memory_bytes"] > 0
    assert len(report["software"]) == len(local["software"]) > 0
    # Announced once in the log, not at every collection.
    announced = [r for r in caplog.records if "SFTP subsystem is refused" in r.getMessage()]
    assert len(announced) == 1
    assert "exec channel" in announced[0].getMessage()

    from collector.ssh.cli import cmd_list

    listed = _cli_list(db, cmd_list)
    assert "files via exec" in listed and "no sudo configured" in listed


def _cli_list(db: Any, cmd_list: Any) -> str:
    import argparse
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cmd_list(argparse.Namespace(database_url=str(db.engine.url)))
    return out.getvalue()


def sudo_ran(lab: Lab, since: int) -> str:
    text = lab.sudo_log.read_text(errors="replace") if lab.sudo_log.exists() else ""
    return " ".join(text[since:].split())  # sudo folds long lines


def log_size(lab: Lab) -> int:
    return len(lab.sudo_log.read_text(errors="replace")) if lab.sudo_log.exists() else 0


@pytest.mark.parametrize("how", ["nopasswd", "password"])
def test_through_sudo_the_facts_that_need_root_are_read(
    lab: Lab, db: Any, local: dict[str, Any], how: str, tmp_path: Path
) -> None:
    if shutil.which("nft") is None:
        missing("nftables (the firewall facts need root): apt-get install nftables")
    if how == "nopasswd":
        add(db, lab, "nopw", sudo=True)
    else:
        secret = tmp_path / "sudo-password"
        secret.write_text(lab.password + "\n")
        secret.chmod(0o600)
        add(db, lab, "pw", sudo_password_file=secret)
    since = log_size(lab)
    outcome, report = collect_one(db, lab)
    assert outcome.ok, outcome.message
    assert "sudo works" in outcome.message
    assert report is not None
    # nft and sshd -T ran through sudo (sudo's own log), and what they read is what the
    # local agent, as root, reads.
    ran = sudo_ran(lab, since)
    assert "COMMAND=/usr/sbin/nft -j list ruleset" in ran, ran
    assert "COMMAND=/usr/sbin/sshd -T" in ran, ran
    assert report["security"]["firewall"] is not None
    assert report["security"]["firewall"] == local["security"]["firewall"]
    assert report["security"]["ssh"] == local["security"]["ssh"] is not None
    assert "nft" not in errors_of(report, "security")
    # Only what needs root went through sudo: no cat of a readable file, no uname.
    assert "COMMAND=/usr/bin/cat /etc/os-release" not in ran and "uname" not in ran
    # This machine has no DMI: unknown with its reason, through sudo as without it.
    assert report["host"]["serial"] is None
    assert "does not exist" in errors_of(report, "host")


def test_without_sudo_the_facts_that_need_root_are_unknown(lab: Lab, db: Any) -> None:
    if shutil.which("nft") is None:
        missing("nftables (the firewall facts need root): apt-get install nftables")
    add(db, lab, "nosudo")
    outcome, report = collect_one(db, lab)
    assert outcome.ok and report is not None
    assert report["security"]["firewall"] is None
    # nft is found (in /usr/sbin, which an ordinary user's PATH lacks) and refuses.
    security = errors_of(report, "security")
    assert "nft list ruleset: exit code 1" in security and "Operation not permitted" in security
    # sshd -T needs root; its settings are then read from sshd_config (world-readable).
    assert report["security"]["ssh"] is not None


@pytest.fixture
def sudo_passwords(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the targets' sudo passwords come from: the right one, a wrong one."""
    monkeypatch.setenv("INVENTAR_TEST_SUDO", lab.password)
    monkeypatch.setenv("INVENTAR_TEST_WRONG_SUDO", "not-the-password")


@pytest.mark.parametrize(
    ("role", "options", "said"),
    [
        ("nosudo", {"sudo_password_env": "INVENTAR_TEST_SUDO"}, "is not in the sudoers file"),
        ("pw", {"sudo": True}, "a password is required"),
        ("pw", {"sudo_password_env": "INVENTAR_TEST_WRONG_SUDO"}, "incorrect password"),
    ],
    ids=["not-in-sudoers", "password-not-given", "wrong-password"],
)
@pytest.mark.usefixtures("sudo_passwords")
def test_a_refused_sudo_is_named_and_its_facts_are_unknown(
    lab: Lab, db: Any, role: str, options: dict[str, Any], said: str
) -> None:
    add(db, lab, role, **options)
    since = log_size(lab)
    outcome, report = collect_one(db, lab)
    # The report is stored (the basics need no root); sudo's refusal is said once, in its
    # own words, and each fact that needed root is null with an entry naming sudo.
    assert outcome.ok, outcome.message
    assert "sudo refused" in outcome.message and said in outcome.message, outcome.message
    assert report is not None
    assert report["security"]["firewall"] is None
    security = errors_of(report, "security")
    assert "nft list ruleset: needs root: sudo refused" in security and said in security
    # One attempt for the whole collection, not one per command (account lockout).
    assert sudo_ran(lab, since).count("COMMAND=") <= 1


def test_a_root_only_file_is_read_through_sudo(lab: Lab, tmp_path: Path) -> None:
    """What /sys/class/dmi/id/product_serial is on a machine that has it: a file only root
    may read. The user is refused; through sudo it is read, bytes as they are."""
    from collector.ssh.access import open_way
    from collector.ssh.session import Credentials, connect
    from collector.ssh.sudo import Sudo

    secret = Path("/run/inventar-test-root-only")
    secret.write_bytes(b"SERIAL-\x00\xff-1234\n")
    secret.chmod(0o400)
    try:
        for sudo, expected in ((None, None), (Sudo(), secret.read_bytes())):
            session = connect("127.0.0.1", lab.target_port, Credentials(user("nopw"), str(lab.key)),
                              lab.known)  # fmt: skip
            try:
                way = open_way(session, sudo, 10.0)
                if expected is None:
                    with pytest.raises(PermissionError):
                        way.files.read_bytes(str(secret))
                else:
                    assert way.files.read_bytes(str(secret)) == expected
                assert way.files_via == "exec"
            finally:
                session.close()
    finally:
        secret.unlink()


def test_through_the_jump_host_the_same_report_arrives(lab: Lab, db: Any, tmp_path: Path) -> None:
    add(db, lab, "nosudo")
    direct, report = collect_one(db, lab)
    assert direct.ok and report is not None
    assert report["software"] is not None, report["collection"]
    from sqlmodel import select

    from collector.models import SshTarget

    with db.session() as s:
        target = s.exec(select(SshTarget)).one()
        s.delete(target)
        s.commit()
    add(db, lab, "nosudo", jump=f"{user('nosudo')}@127.0.0.1:{lab.jump_port}")
    before = lab.jump_log.read_text(errors="replace")
    via, through = collect_one(db, lab)
    assert via.ok, via.message
    assert through is not None
    assert through["host"]["machine_id"] == report["host"]["machine_id"]
    assert through["os"] == report["os"]
    # On a failure, the collection errors say why a section came back short.
    assert through["software"] is not None, through.get("collection")
    assert len(through["software"]) == len(report["software"]), through.get("collection")
    # The jump host forwarded the connection to the target's port.
    after = lab.jump_log.read_text(errors="replace")[len(before) :]
    assert f"target 127.0.0.1 port {lab.target_port}" in after, after[-2000:]


def test_jump_host_key_is_verified_and_trusted_on_first_use_through_it(
    lab: Lab, db: Any, tmp_path: Path
) -> None:
    import sys

    known = tmp_path / "known_hosts"
    collector = str(Path(sys.executable).parent / "inventar-collector")
    url = str(db.engine.url)
    argv = [collector, "ssh", "add", "--host", "127.0.0.1", "--port", str(lab.target_port),
            "--user", user("nosudo"), "--key", str(lab.key), "--site", "Rathaus",
            "--known-hosts", str(known), "--jump", f"{user('nosudo')}@127.0.0.1:{lab.jump_port}",
            "--trust-on-first-use", "--database-url", url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    text = known.read_text()
    assert f"[127.0.0.1]:{lab.jump_port} " in text and f"[127.0.0.1]:{lab.target_port} " in text
    assert len(text.splitlines()) == 2
    from collector.ssh.collect import collect_all

    (outcome,) = collect_all(db, _settings(known))
    assert outcome.ok, outcome.message
    # A jump host whose key is not the known one is refused, naming the jump host.
    other = keygen(tmp_path / "other")
    lines = [line for line in text.splitlines() if f"]:{lab.jump_port} " not in line]
    lines.append(f"[127.0.0.1]:{lab.jump_port} {Path(str(other) + '.pub').read_text().strip()}")
    known.write_text("\n".join(lines) + "\n")
    (outcome,) = collect_all(db, _settings(known))
    assert not outcome.ok
    assert f"jump host [127.0.0.1]:{lab.jump_port}: host key CHANGED" in outcome.message


def test_no_sftp_and_commands_refused_is_said_and_nothing_is_sent(lab: Lab, db: Any) -> None:
    add(db, lab, "nologin")
    outcome, report = collect_one(db, lab)
    assert not outcome.ok and report is None
    assert "cannot read anything: the SFTP subsystem is refused" in outcome.message
    assert "commands do not run" in outcome.message
    assert "This account is currently not available." in outcome.message


def test_a_login_shell_that_is_not_posix_is_said(lab: Lab, db: Any) -> None:
    add(db, lab, "csh")
    outcome, report = collect_one(db, lab)
    assert not outcome.ok and report is None
    assert "the login shell is not a POSIX shell" in outcome.message
    assert "/bin/sh or bash" in outcome.message
