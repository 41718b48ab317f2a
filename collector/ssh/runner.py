"""Commands on a remote host over SSH, implementing the agent's :class:`agent.runner.Runner`.

The argv is quoted with :func:`shlex.join` for the remote (POSIX) login shell and runs with
``LC_ALL=C LANG=C`` so that its output is the parsers' language, as with the local runner.
A command the remote shell cannot find (exit 127) is ``not-found``, one it may not execute
(126) ``permission-denied``; a command past its timeout is closed and reported as such; an
exec request the server refuses is reported, not raised. :meth:`SshRunner.execute` gives a
command line's output as bytes (files read through ``cat``: collector.ssh.files).
"""

from __future__ import annotations

import re
import select
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paramiko

from agent.runner import DEFAULT_TIMEOUT_S, MAX_OUTPUT_BYTES, CommandResult
from collector.ssh.session import SshSession

# The parsers' language, and the system directories on PATH: an ordinary user's PATH lacks
# /usr/sbin and /sbin on Debian, so nft, sshd or iptables-save would be "not found" (not
# installed) instead of refused; this is the PATH sudo's secure_path and systemd give.
BASE_ENV = {
    "LC_ALL": "C",
    "LANG": "C",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHUNK = 64 * 1024


def remote_command(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The command line for the remote shell: ``LC_ALL=C LANG=C PATH=… [VAR=value …] argv…``."""
    variables = {**BASE_ENV, **(env or {})}
    for name in variables:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"invalid environment variable name {name!r}")
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items())
    return f"{assignments} {shlex.join(argv)}"


@dataclass(frozen=True)
class RawResult:
    """What a remote command line did, as bytes (a file read through ``cat`` is binary)."""

    exit_code: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    error: str | None = None


class SshRunner:
    def __init__(self, session: SshSession) -> None:
        self.session = session

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        return self.run_with(argv, timeout, env)

    def run_with(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        *,
        prefix: Sequence[str] = (),
        stdin: bytes = b"",
    ) -> CommandResult:
        """``run``, with ``prefix`` (``sudo -n --``) before the argv and ``stdin`` sent."""
        args = tuple(argv)
        if not args:
            return CommandResult(args, None, error="empty command")
        try:
            command = remote_command([*prefix, *args], env)
        except ValueError as exc:
            return CommandResult(args, None, error=str(exc))
        raw = self.execute(command, timeout, stdin)
        stdout = raw.stdout.decode("utf-8", errors="replace")
        stderr = raw.stderr.decode("utf-8", errors="replace")
        if raw.error is not None:
            return CommandResult(args, None, stdout, stderr, error=raw.error)
        if raw.exit_code == 127:
            return CommandResult(args, None, stdout, stderr, error="not-found")
        if raw.exit_code == 126:
            return CommandResult(args, None, stdout, stderr, error="permission-denied")
        return CommandResult(args, raw.exit_code, stdout, stderr)

    def execute(
        self, command: str, timeout: float, stdin: bytes = b"", limit: int = MAX_OUTPUT_BYTES
    ) -> RawResult:
        """Runs a command line in the remote login shell; never raises."""
        deadline = time.monotonic() + timeout
        try:
            channel = self.session.transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return RawResult(None, error=f"cannot run over SSH: {exc}")
        try:
            return self._run(channel, command, stdin, deadline=deadline, timeout=timeout,
                             limit=limit)  # fmt: skip
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return RawResult(None, error=f"SSH failed: {exc}")
        finally:
            channel.close()

    @staticmethod
    def _run(
        channel: paramiko.Channel,
        command: str,
        stdin: bytes,
        *,
        deadline: float,
        timeout: float,
        limit: int,
    ) -> RawResult:
        channel.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            channel.exec_command(command)
        except paramiko.SSHException as exc:  # the server refused the exec request
            return RawResult(None, error=f"exec refused by the server: {exc}")
        if stdin:
            channel.sendall(stdin)
        _end_input(channel)  # stdin ends here, as the local runner's DEVNULL
        out = bytearray()
        err = bytearray()
        while True:
            _drain(channel, out, err, limit)
            # Done at end of output, not at the exit status: sshd sends the status when the
            # command exits, which can be before the rest of its output (still in the pipe,
            # or written by a child it left behind) has been sent.
            if (
                channel.exit_status_ready()
                and (channel.eof_received or channel.closed)
                and not (channel.recv_ready() or channel.recv_stderr_ready())
            ):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return RawResult(None, error=f"timeout after {timeout:g} s")
            select.select([channel], [], [], min(remaining, 0.5))
        _drain(channel, out, err, limit)
        code = channel.recv_exit_status()
        if code == -1:
            return RawResult(None, bytes(out), bytes(err), error="ended without exit status")
        return RawResult(code, bytes(out), bytes(err))


def _end_input(channel: paramiko.Channel) -> None:
    """``channel.shutdown_write()``, but with the EOF sent while the channel's lock is held.
    paramiko builds the EOF under the lock and sends it after releasing it; when a quick
    command has ended meanwhile, the transport thread can send its CLOSE in between, and the
    EOF then names a channel sshd has already freed: sshd ends the whole connection
    ("ieof packet referred to nonexistent channel"), and every later command of the
    collection fails (seen under load). Holding the lock orders our EOF before that CLOSE.
    paramiko releases the lock before sending because of key re-exchange; a CLOSE arriving
    during one would wait at most its clear-to-send timeout, then fail this command only."""
    inner: Any = channel  # paramiko's internals: no types for them
    with channel.lock:
        message = inner._send_eof()
        if message is not None:
            inner.transport._send_user_message(message)


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray, limit: int) -> None:
    """Reads what is buffered; output past the limit is read and dropped (the command must
    still be able to finish)."""
    while channel.recv_ready():
        data = channel.recv(_CHUNK)
        if not data:
            break
        if len(out) < limit:
            out += data[: limit - len(out)]
    while channel.recv_stderr_ready():
        data = channel.recv_stderr(_CHUNK)
        if not data:
            break
        if len(err) < MAX_OUTPUT_BYTES:
            err += data
