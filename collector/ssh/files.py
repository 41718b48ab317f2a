"""A remote host's files over SFTP, implementing the agent's :class:`agent.files.FileSource`.

Paths are the live paths on the remote host (``/sys/class/dmi/id/sys_vendor``). Errors are
raised like ``open`` raises them (FileNotFoundError, PermissionError, OSError), which is
what the probes expect. /proc and /sys files report size 0 and are read until EOF.
"""

from __future__ import annotations

import errno
import stat

from agent.files import MAX_FILE_BYTES, read_chunks
from collector.ssh.session import SshSession

_CHUNK = 32 * 1024


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
            except Exception:
                return False
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
            except Exception:
                return False
        return mode is not None and stat.S_ISDIR(mode)

    @staticmethod
    def _check(path: str) -> None:
        if not path.startswith("/"):
            raise ValueError(f"probe paths are absolute: {path!r}")
