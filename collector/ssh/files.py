"""A remote host's files, implementing the agent's :class:`agent.files.FileSource`: over SFTP
(:class:`SftpFiles`), or through the exec channel with ``cat``, ``ls``, ``stat`` and ``test``
where the server has no SFTP subsystem (:class:`ExecFiles`; the same limits), optionally
through sudo for files only root may read (collector.ssh.sudo).

Paths are the live paths on the remote host (``/sys/class/dmi/id/sys_vendor``). Errors are
raised like ``open`` raises them (FileNotFoundError, PermissionError, OSError), which is
what the probes expect. /proc and /sys files report size 0 and are read until EOF.
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Sequence

from agent.files import MAX_FILE_BYTES, read_chunks
from collector.ssh.runner import RawResult, SshRunner, remote_command
from collector.ssh.session import SshSession

_CHUNK = 32 * 1024


def _absent(error: OSError) -> bool:
    """False for a path that is not there or not visible (as ``Path.exists`` says); any
    other error - the connection lost, the server failing - is raised: a probe must not
    conclude from it that the path is absent (that a host has no package manager)."""
    if isinstance(error, FileNotFoundError | NotADirectoryError | PermissionError):
        return False
    raise error


def _os_error(exc: Exception, path: str) -> OSError:
    if isinstance(exc, OSError):
        if exc.errno is None and "No such file" in str(exc):
            return FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return exc
    return OSError(errno.EIO, f"{path}: {exc}")


class SftpFiles:
    def __init__(self, session: SshSession) -> None:
        self.session = session

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        self._check(path)
        with self.session.sftp_lock:
            try:
                with self.session.sftp().open(path, "rb") as fh:
                    return read_chunks(fh, limit, _CHUNK)
            except Exception as exc:
                raise _os_error(exc, path) from None

    def listdir(self, path: str) -> list[str]:
        self._check(path)
        with self.session.sftp_lock:
            try:
                return sorted(self.session.sftp().listdir(path))
            except Exception as exc:
                raise _os_error(exc, path) from None

    def exists(self, path: str) -> bool:
        self._check(path)
        with self.session.sftp_lock:
            try:
                self.session.sftp().stat(path)
            except Exception as exc:
                return _absent(_os_error(exc, path))
            return True

    def mtime(self, path: str) -> float:
        self._check(path)
        with self.session.sftp_lock:
            try:
                attrs = self.session.sftp().stat(path)
            except Exception as exc:
                raise _os_error(exc, path) from None
        if attrs.st_mtime is None:
            raise OSError(errno.EIO, f"{path}: no modification time")
        return float(attrs.st_mtime)

    def is_dir(self, path: str) -> bool:
        with self.session.sftp_lock:
            try:
                mode = self.session.sftp().stat(path).st_mode
            except Exception as exc:
                return _absent(_os_error(exc, path))
        return mode is not None and stat.S_ISDIR(mode)

    @staticmethod
    def _check(path: str) -> None:
        if not path.startswith("/"):
            raise ValueError(f"probe paths are absolute: {path!r}")


# What a file tool says (LC_ALL=C) -> the error ``open`` would raise.
_ERRNO_BY_TEXT = (
    ("No such file or directory", errno.ENOENT),
    ("Permission denied", errno.EACCES),
    ("Operation not permitted", errno.EPERM),
    ("Is a directory", errno.EISDIR),
    ("Not a directory", errno.ENOTDIR),
)
_TIMEOUT_S = 30.0


class ExecFiles:
    """Files read by commands in the exec channel: ``cat`` (output cut at the limit, as
    SFTP reads are), ``ls -1A`` (names with a newline in them cannot be told apart: no
    probe reads such a directory), ``stat -c %Y`` (whole seconds, as SFTP gives them) and
    ``test``. ``prefix`` and ``stdin`` run them through sudo (collector.ssh.sudo)."""

    def __init__(self, runner: SshRunner, prefix: Sequence[str] = (), stdin: bytes = b"") -> None:
        self.runner = runner
        self.prefix = tuple(prefix)
        self.stdin = stdin

    def _call(self, argv: list[str], limit: int = MAX_FILE_BYTES) -> RawResult:
        command = remote_command([*self.prefix, *argv])
        return self.runner.execute(command, _TIMEOUT_S, self.stdin, limit)

    def _checked(self, path: str, argv: list[str], limit: int = MAX_FILE_BYTES) -> bytes:
        SftpFiles._check(path)
        result = self._call(argv, limit)
        if result.exit_code == 0:
            return result.stdout
        raise _exec_error(result, path, argv[0])

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        return self._checked(path, ["cat", "--", path], limit)

    def listdir(self, path: str) -> list[str]:
        out = self._checked(path, ["ls", "-1A", "--", path.rstrip("/") + "/"])
        return sorted(name for name in out.decode("utf-8", errors="surrogateescape").split("\n")
                      if name)  # fmt: skip

    def exists(self, path: str) -> bool:
        return self._test(path, "-e")

    def mtime(self, path: str) -> float:
        out = self._checked(path, ["stat", "-c", "%Y", "--", path]).strip()
        try:
            return float(int(out))
        except ValueError:
            raise OSError(errno.EIO, f"{path}: stat printed {out[:40]!r}") from None

    def is_dir(self, path: str) -> bool:
        return self._test(path, "-d")

    def _test(self, path: str, flag: str) -> bool:
        """``test`` answers 0 (yes) or 1 (no); anything else (no answer: the connection is
        gone; sudo refusing) is an error, not a no."""
        SftpFiles._check(path)
        result = self._call(["test", flag, path])
        if result.error is None and result.exit_code in (0, 1):
            refused = result.stderr.lstrip().startswith(b"sudo:")
            if not refused:
                return result.exit_code == 0
        raise _exec_error(result, path, "test")


def _exec_error(result: RawResult, path: str, tool: str) -> OSError:
    """The OSError ``open`` would raise for what the tool (or sudo) said."""
    if result.error is not None:
        return OSError(errno.EIO, f"{path}: {tool} over SSH: {result.error}")
    text = result.stderr.decode("utf-8", errors="replace").strip()
    if result.exit_code == 127:
        return OSError(errno.ENOENT, f"{tool} not found on the host (needed without SFTP)", path)
    if text.startswith("sudo:"):  # sudo itself refused: a permission problem, named so
        return PermissionError(errno.EACCES, text.splitlines()[0][:300], path)
    for needle, code in _ERRNO_BY_TEXT:
        if needle in text:
            return OSError(code, needle, path)
    last = text.splitlines()[-1][:300] if text else f"exit code {result.exit_code}"
    return OSError(errno.EIO, f"{tool}: {last}", path)
