"""Commands on a remote host over SSH, implementing the agent's :class:`agent.runner.Runner`.

The argv is quoted with :func:`shlex.join` for the remote (POSIX) login shell and runs with
``LC_ALL=C LANG=C`` so that its output is the parsers' language, as with the local runner.
A command the remote shell cannot find (exit 127) is ``not-found``, one it may not execute
(126) ``permission-denied``; a command past its timeout is closed and reported as such.
"""

from __future__ import annotations

import re
import select
import shlex
import time
from collections.abc import Mapping, Sequence

import paramiko

from agent.runner import DEFAULT_TIMEOUT_S, MAX_OUTPUT_BYTES, CommandResult
from collector.ssh.session import SshSession

BASE_ENV = {"LC_ALL": "C", "LANG": "C"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHUNK = 64 * 1024


def remote_command(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The command line for the remote shell: ``LC_ALL=C LANG=C [VAR=value …] argv…``."""
    variables = {**BASE_ENV, **(env or {})}
    for name in variables:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"invalid environment variable name {name!r}")
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items())
    return f"{assignments} {shlex.join(argv)}"


class SshRunner:
    def __init__(self, session: SshSession) -> None:
        self.session = session

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        args = tuple(argv)
        if not args:
            return CommandResult(args, None, error="empty command")
        try:
            command = remote_command(args, env)
        except ValueError as exc:
            return CommandResult(args, None, error=str(exc))
        deadline = time.monotonic() + timeout
        try:
            channel = self.session.transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return CommandResult(args, None, error=f"cannot run over SSH: {exc}")
        try:
            return self._run(channel, args, command, deadline, timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return CommandResult(args, None, error=f"SSH failed: {exc}")
        finally:
            channel.close()

    @staticmethod
    def _run(
        channel: paramiko.Channel,
        args: tuple[str, ...],
        command: str,
        deadline: float,
        timeout: float,
    ) -> CommandResult:
        channel.settimeout(max(0.1, deadline - time.monotonic()))
        channel.exec_command(command)
        channel.shutdown_write()  # stdin: nothing, as the local runner's DEVNULL
        out = bytearray()
        err = bytearray()
        while True:
            _drain(channel, out, err)
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
                return CommandResult(args, None, error=f"timeout after {timeout:g} s")
            select.select([channel], [], [], min(remaining, 0.5))
        _drain(channel, out, err)
        code = channel.recv_exit_status()
        stdout = bytes(out[:MAX_OUTPUT_BYTES]).decode("utf-8", errors="replace")
        stderr = bytes(err[:MAX_OUTPUT_BYTES]).decode("utf-8", errors="replace")
        if code == -1:
            return CommandResult(args, None, stdout, stderr, error="ended without exit status")
        if code == 127:
            return CommandResult(args, None, stdout, stderr, error="not-found")
        if code == 126:
            return CommandResult(args, None, stdout, stderr, error="permission-denied")
        return CommandResult(args, code, stdout, stderr)


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> None:
    """Reads what is buffered; output past the limit is read and dropped (the command must
    still be able to finish)."""
    while channel.recv_ready():
        data = channel.recv(_CHUNK)
        if not data:
            break
        if len(out) < MAX_OUTPUT_BYTES:
            out += data
    while channel.recv_stderr_ready():
        data = channel.recv_stderr(_CHUNK)
        if not data:
            break
        if len(err) < MAX_OUTPUT_BYTES:
            err += data
