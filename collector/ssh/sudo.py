"""Root through sudo for an SSH target that logs in as an ordinary user (``PermitRootLogin
no`` is Debian's hardening default and what BSI SYS.1.3 asks for).

Only what needs root goes through sudo: the commands in :data:`ROOT_COMMANDS` (each reads
state the kernel or the program shows to root only), and a file read, listing or stat that
the user is refused (``PermissionError``) is tried again as ``sudo cat``/``ls``/``stat``. So
a restricted sudoers rule can name exactly these (the README gives one).

sudo is asked once per collection whether it works (``sudo -n true``, or with the password on
standard input): a sudo that wants a password it does not get, or refuses the user, is
reported once by its own words, and everything that needed root is then ``null`` with an
error entry naming sudo — never a wrong password tried again and again (account lockout).
With a password, every call is ``sudo -k -S -p ''``: the password is always read (never left
on the command's standard input) and never on a command line.

The locale: sudo keeps ``LC_ALL``/``LANG`` by default (its built-in env_keep), so the
commands answer in the parsers' language.
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from agent.files import MAX_FILE_BYTES, FileSource
from agent.runner import DEFAULT_TIMEOUT_S, CommandResult
from collector.ssh.files import ExecFiles
from collector.ssh.runner import SshRunner

# Programs the Linux probes run that show the state an admin asks about to root only.
ROOT_COMMANDS = {
    "nft": "the nftables rule set (CAP_NET_ADMIN)",
    "iptables-save": "the iptables rules (CAP_NET_ADMIN)",
    "ip6tables-save": "the ip6tables rules (CAP_NET_ADMIN)",
    "ufw": "ufw's status (reads root-only rule files)",
    "sshd": "sshd -T (reads the host keys)",
}
CHECK_TIMEOUT_S = 20.0
T = TypeVar("T")


@dataclass(frozen=True)
class Sudo:
    """How to become root: NOPASSWD (``password`` None) or with a password."""

    password: str | None = field(default=None, repr=False)

    @property
    def prefix(self) -> tuple[str, ...]:
        if self.password is None:
            return ("sudo", "-n", "--")
        return ("sudo", "-k", "-S", "-p", "", "--")

    @property
    def stdin(self) -> bytes:
        return b"" if self.password is None else (self.password + "\n").encode("utf-8")

    def describe(self) -> str:
        return "sudo -n (NOPASSWD)" if self.password is None else "sudo with a password"


@dataclass(frozen=True)
class SudoState:
    """What the check found: ``usable`` (sudo works, or the user is root: ``as_root``), or
    ``refused`` with sudo's own message."""

    usable: bool
    as_root: bool = False
    refused: str | None = None

    def describe(self) -> str:
        if self.as_root:
            return "logged in as root"
        return "sudo works" if self.usable else f"sudo refused: {self.refused}"


def check(runner: SshRunner, sudo: Sudo) -> SudoState:
    """Whether ``sudo`` works for the login user (or it is root already)."""
    uid = runner.run(["id", "-u"], timeout=CHECK_TIMEOUT_S)
    if uid.ok and uid.stdout.strip() == "0":
        return SudoState(usable=True, as_root=True)
    result = runner.run_with(["true"], CHECK_TIMEOUT_S, prefix=sudo.prefix, stdin=sudo.stdin)
    if result.ok:
        return SudoState(usable=True)
    if result.error == "not-found":
        return SudoState(usable=False, refused="sudo is not installed on the host")
    said = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    reason = "; ".join(said)[:300] if said else result.describe()
    return SudoState(usable=False, refused=f"{sudo.describe()}: {reason}")


def needs_root(argv: Sequence[str]) -> bool:
    return bool(argv) and posixpath.basename(argv[0]) in ROOT_COMMANDS


class SudoRunner:
    """A Runner: the commands in ROOT_COMMANDS through sudo, every other one as the user."""

    def __init__(self, runner: SshRunner, sudo: Sudo, state: SudoState) -> None:
        self.runner = runner
        self.sudo = sudo
        self.state = state

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        if self.state.as_root or not needs_root(argv):
            return self.runner.run(argv, timeout, env)
        if not self.state.usable:
            return CommandResult(tuple(argv), None, error=f"needs root: {self.state.describe()}")
        return self.runner.run_with(
            argv, timeout, env, prefix=self.sudo.prefix, stdin=self.sudo.stdin
        )


class SudoFiles:
    """A FileSource: reads as the user; what the user is refused, read again through sudo
    (or refused with sudo's reason when sudo does not work)."""

    def __init__(self, files: FileSource, runner: SshRunner, sudo: Sudo, state: SudoState) -> None:
        self.files = files
        self.state = state
        self.root = ExecFiles(runner, sudo.prefix, sudo.stdin) if state.usable else None

    def _refused(self, path: str) -> PermissionError:
        return PermissionError(errno.EACCES, f"Permission denied ({self.state.describe()})", path)

    def _as_user_else_root(self, path: str, call: Callable[[FileSource], T]) -> T:
        try:
            return call(self.files)
        except PermissionError:
            if self.root is None:
                raise self._refused(path) from None
            return call(self.root)

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        return self._as_user_else_root(path, lambda files: files.read_bytes(path, limit))

    def listdir(self, path: str) -> list[str]:
        return self._as_user_else_root(path, lambda files: files.listdir(path))

    def exists(self, path: str) -> bool:
        # Not through sudo: probes ask about many paths that are simply absent, and a sudo
        # call each would fill the host's auth log.
        return self.files.exists(path)

    def mtime(self, path: str) -> float:
        return self._as_user_else_root(path, lambda files: files.mtime(path))
