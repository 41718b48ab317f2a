"""How a collection gets into a host, decided once per session, and what it says when it
cannot: the login shell must run POSIX commands; files come over SFTP or, where the server
refuses the SFTP subsystem, through the exec channel; root through sudo where the target
says so (collector.ssh.sudo). Each refusal is an SshError that names its cause, so that an
admin reading `ssh list` knows what to change on the host.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from agent.files import FileSource
from agent.runner import Runner
from agent.schema import Report
from collector.ssh.files import ExecFiles, SftpFiles
from collector.ssh.runner import SshRunner
from collector.ssh.session import SshError, SshSession
from collector.ssh.sudo import Sudo, SudoFiles, SudoRunner, SudoState, check

log = logging.getLogger(__name__)

# `echo $((6*7))` is arithmetic expansion: every POSIX shell prints 42, csh and fish refuse.
SHELL_PROBE = "echo inventar-$((6*7))"
SHELL_ANSWER = b"inventar-42"
PLAIN_PROBE = "echo inventar-ok"
_announced: set[str] = set()  # targets whose missing SFTP was logged (once per process)
_announced_lock = threading.Lock()


@dataclass(frozen=True)
class Way:
    """How this session reads the host: its runner and files, and how it got them."""

    runner: Runner
    files: FileSource
    files_via: str  # "SFTP" or "exec"
    sftp_refused: str | None = None
    sudo: SudoState | None = None

    def describe(self) -> str:
        files = (
            "files via SFTP"
            if self.sftp_refused is None
            else f"files via exec (cat, ls, stat): no SFTP ({self.sftp_refused})"
        )
        root = "no sudo configured" if self.sudo is None else self.sudo.describe()
        return f"{files}; {root}"


def open_way(session: SshSession, sudo: Sudo | None, timeout: float) -> Way:
    """Checks the shell, picks SFTP or exec for files, checks the platform and sudo."""
    ssh = SshRunner(session)
    commands = _commands_refused(ssh, session.label, timeout)
    sftp_refused = _sftp_refused(session)
    if commands is not None:
        if sftp_refused is not None:
            raise SshError(
                f"{session.label}: cannot read anything: the SFTP subsystem is refused "
                f"({sftp_refused}) and {commands}"
            )
        raise SshError(f"{session.label}: {commands}; the collection runs commands")
    files: FileSource = SftpFiles(session)
    if sftp_refused is not None:
        files = ExecFiles(ssh)
        _announce(session.label, sftp_refused)
    uname = ssh.run(["uname", "-s"], timeout=timeout)
    if not uname.ok:
        raise SshError(f"{session.label}: cannot run commands: {uname.describe()}")
    system = uname.stdout.strip()
    if system != "Linux":
        raise SshError(f"{session.label}: only Linux hosts are collected over SSH, not {system}")
    via = "exec" if sftp_refused is not None else "SFTP"
    if sudo is None:
        return Way(ssh, files, via, sftp_refused)
    state = check(ssh, sudo)
    if not state.usable:
        log.warning("%s: %s; facts that need root stay unknown", session.label, state.refused)
    return Way(SudoRunner(ssh, sudo, state), SudoFiles(files, ssh, sudo, state), via,
               sftp_refused, state)  # fmt: skip


def _commands_refused(ssh: SshRunner, label: str, timeout: float) -> str | None:
    """None when the login shell runs POSIX commands; else why not (SshError for a shell
    that runs commands but is not POSIX: the probes' command lines would fail one by one)."""
    first = ssh.execute(SHELL_PROBE, timeout)
    if first.error is not None:
        return f"commands do not run ({first.error})"
    if first.stdout.strip() == SHELL_ANSWER:
        return None
    plain = ssh.execute(PLAIN_PROBE, timeout)
    said = _said(first.stdout + first.stderr)
    if plain.error is None and b"inventar-ok" in plain.stdout:
        raise SshError(
            f"{label}: the login shell is not a POSIX shell (to `{SHELL_PROBE}` it answered "
            f"{said}); give the user /bin/sh or bash as its login shell"
        )
    return f"commands do not run (the server answered {said}: a ForceCommand or nologin?)"


def _said(output: bytes) -> str:
    text = " ".join(output.decode("utf-8", errors="replace").split())
    return repr(text[:200]) if text else "nothing"


def _sftp_refused(session: SshSession) -> str | None:
    with session.sftp_lock:
        try:
            session.sftp()
        except OSError as exc:
            return str(exc).removeprefix(f"{session.label}: ")
    return None


def _announce(label: str, reason: str) -> None:
    with _announced_lock:
        if label in _announced:
            return
        _announced.add(label)
    log.info("%s: the SFTP subsystem is refused (%s); reading files through the exec channel "
             "(cat, ls, stat) from now on", label, reason)  # fmt: skip


def check_basics(label: str, report: Report, way: Way) -> None:
    """SshError when the report lacks what identifies a host (machine id, hostname, OS):
    such a report is not sent; the error says why the probes could not read them."""
    host, os_info = report.host, report.os
    missing = [
        what
        for what, value in (
            ("machine id", host.machine_id if host else None),
            ("hostname", host.hostname if host else None),
            ("OS", os_info.name if os_info else None),
        )
        if not value
    ]
    if not missing:
        return
    reasons = [e.message for e in report.collection.errors if e.probe in ("host", "os")]
    detail = "; ".join(reasons[:5]) or "no error was recorded"
    raise SshError(
        f"{label}: the basics could not be read ({', '.join(missing)}): {detail} [{way.describe()}]"
    )
