"""SSH sessions: connect with verified host keys, authenticate, and close.

Host keys are checked against a known_hosts file (OpenSSH format; ``[host]:port`` for ports
other than 22). An unknown or changed key is refused with a message naming the host and the
key's fingerprint (``SHA256:…``, as ``ssh-keygen -lf`` shows it). Trust on first use happens
only when asked for explicitly (:func:`trust_on_first_use`, ``ssh add --trust-on-first-use``).
Passwords come from an environment variable or a file with mode 0600, and are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import socket
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from collector.ssh.names import host_label

# paramiko logs a traceback from its transport thread for every failed handshake; the
# collector says what failed in one line instead (SshError).
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class SshError(Exception):
    """Connecting, verifying the host or authenticating failed; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def fingerprint(key: paramiko.PKey) -> str:
    """The key's SHA256 fingerprint as OpenSSH prints it (``SHA256:`` + unpadded base64)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class Credentials:
    user: str
    key_file: str | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """How this user authenticates, for messages (never the secret itself)."""
        return f"key {self.key_file}" if self.key_file else "password"


def read_password(env_var: str | None, file: str | None) -> str:
    """The password from the environment variable or the 0600 file; SshError otherwise."""
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise SshError(f"environment variable {env_var} (the SSH password) is not set")
        return value
    if file:
        path = Path(file)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise SshError(f"{path}: the password file must have mode 0600 (it has {mode:04o})")
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SshError(f"cannot read the password file {path}: {exc.strerror}") from None
    raise SshError("no key file and no password source")


def _load_known_hosts(path: Path) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    if path.exists():
        try:
            keys.load(str(path))
        except (OSError, paramiko.SSHException) as exc:
            raise SshError(f"cannot read known_hosts {path}: {exc}") from None
    return keys


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise SshError(
            f"{hostname}: unknown host key {key.get_name()} {fingerprint(key)} (not in "
            f"{self.known_hosts}); refusing to connect. Check the fingerprint on the host "
            "(ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add the key to that file or "
            "add the host again with --trust-on-first-use"
        )


class SshSession:
    """An authenticated connection; SFTP is opened on first use and shared (with a lock)."""

    def __init__(
        self,
        client: paramiko.SSHClient,
        label: str,
        timeout: float,
        via: paramiko.SSHClient | None = None,
    ) -> None:
        self.client = client
        self.via = via  # the jump host's connection, closed with this one
        self.label = label
        self.timeout = timeout
        self._sftp: paramiko.SFTPClient | None = None
        self.sftp_lock = threading.Lock()
        self.closed = False

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise OSError(f"{self.label}: the SSH connection is closed")
        return transport

    def sftp(self) -> paramiko.SFTPClient:
        """The SFTP client (call with ``sftp_lock`` held)."""
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(self.transport)
            except paramiko.SSHException as exc:
                raise OSError(f"{self.label}: SFTP unavailable: {exc}") from None
            if self._sftp is None:
                raise OSError(f"{self.label}: SFTP unavailable")
            self._sftp.get_channel().settimeout(self.timeout)  # type: ignore[union-attr]
        return self._sftp

    def close(self) -> None:
        """Closes everything; blocked reads in other threads fail at once (used on timeout)."""
        self.closed = True
        try:
            if self._sftp is not None:
                self._sftp.close()
        except Exception:  # closing must never raise
            pass
        self.client.close()
        if self.via is not None:
            self.via.close()


@dataclass(frozen=True)
class Jump:
    """A jump host (OpenSSH's ProxyJump): the target is reached through a direct-tcpip
    channel of an SSH connection to it; its own host key is verified like the target's."""

    host: str
    port: int
    credentials: Credentials

    @property
    def label(self) -> str:
        return f"{self.credentials.user}@{host_label(self.host, self.port)}"


def connect(
    host: str,
    port: int,
    credentials: Credentials,
    known_hosts: Path,
    *,
    timeout: float = 15.0,
    command_timeout: float = 60.0,
    jump: Jump | None = None,
) -> SshSession:
    """An authenticated session, or SshError saying what failed (host key, auth, network;
    for a jump host, which of the two)."""
    _load_known_hosts(known_hosts)  # a broken file is an error of its own
    via: paramiko.SSHClient | None = None
    sock: paramiko.Channel | None = None
    if jump is not None:
        via, sock = _through(jump, host, port, known_hosts, timeout)
    try:
        client = _connect_client(host, port, credentials, known_hosts, timeout, sock=sock)
    except SshError:
        if via is not None:
            via.close()
        raise
    label = f"{credentials.user}@{host_label(host, port)}"
    return SshSession(client, label, command_timeout, via=via)


def _through(
    jump: Jump, host: str, port: int, known_hosts: Path, timeout: float
) -> tuple[paramiko.SSHClient, paramiko.Channel]:
    """The jump host's connection (its key verified) and a channel through it to the target."""
    via = _connect_client(jump.host, jump.port, jump.credentials, known_hosts, timeout,
                          what="jump host ")  # fmt: skip
    try:
        transport = via.get_transport()
        assert transport is not None
        channel = transport.open_channel(
            "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout
        )
    except (paramiko.SSHException, OSError) as exc:
        via.close()
        raise SshError(
            f"jump host {jump.label} cannot reach {host_label(host, port)}: {exc} (does it "
            "allow TCP forwarding, AllowTcpForwarding, and reach the target?)"
        ) from None
    return via, channel


def _connect_client(
    host: str,
    port: int,
    credentials: Credentials,
    known_hosts: Path,
    timeout: float,
    *,
    sock: paramiko.Channel | None = None,
    what: str = "",
) -> paramiko.SSHClient:
    label = f"{credentials.user}@{host_label(host, port)}"
    name = f"{what}{host_label(host, port)}"
    client = paramiko.SSHClient()
    if known_hosts.exists():
        client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(_RejectUnknown(known_hosts))
    try:
        client.connect(
            hostname=host,
            port=port,
            username=credentials.user,
            key_filename=credentials.key_file,
            password=None if credentials.key_file else credentials.password,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
            sock=sock,
        )
    except SshError as exc:
        client.close()
        raise SshError(f"{what}{exc.message}") from None
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise SshError(
            f"{name}: host key CHANGED: the host offers {exc.key.get_name()} "
            f"{fingerprint(exc.key)}, {known_hosts} has {fingerprint(exc.expected_key)}; "
            "refusing to connect (possible man-in-the-middle). If the change is expected, "
            f"remove the old key from {known_hosts} and add the host again"
        ) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise SshError(
            f"{what}{label}: authentication failed ({credentials.describe()}): {exc}"
        ) from None
    except TimeoutError:
        client.close()
        raise SshError(f"{name}: no answer within {timeout:g} s") from None
    except paramiko.SSHException as exc:
        transport = client.get_transport()
        spoke = transport is not None and bool(getattr(transport, "remote_version", ""))
        client.close()
        if not spoke:
            raise SshError(
                f"{name}: no SSH answer within {timeout:g} s (the port accepts connections "
                "but sends no SSH banner)"
            ) from None
        raise SshError(f"{name}: SSH failed: {exc}") from None
    except OSError as exc:
        client.close()
        raise SshError(f"{name}: cannot connect: {exc.strerror or exc}") from None
    return client


def server_key(
    host: str, port: int, timeout: float = 15.0, *, jump: Jump | None = None, known_hosts:
    Path | None = None,
) -> paramiko.PKey:  # fmt: skip
    """The host key the server offers (no authentication), directly or through ``jump``
    (whose own key is verified against ``known_hosts``)."""
    via: paramiko.SSHClient | None = None
    sock: socket.socket | paramiko.Channel
    if jump is not None:
        assert known_hosts is not None
        via, sock = _through(jump, host, port, known_hosts, timeout)
    else:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise SshError(
                f"{host_label(host, port)}: cannot connect: {exc.strerror or exc}"
            ) from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError) as exc:
        raise SshError(f"{host_label(host, port)}: SSH failed: {exc}") from None
    finally:
        transport.close()
        if via is not None:
            via.close()


def trust_on_first_use(
    host: str, port: int, known_hosts: Path, timeout: float = 15.0, jump: Jump | None = None
) -> tuple[str, bool]:
    """Records the host's key in known_hosts unless a key is known already.

    Returns (fingerprint, added). Trust on *first* use only: when known_hosts holds any key
    for the host, of any type, the offered key must be one of them; a key of another type is
    refused like a changed one, never added beside the known ones (whoever sits in the
    connection when a target is added again would otherwise get a trusted key).
    Through a ``jump`` host, whose key must be known already (trust it first).
    """
    key = server_key(host, port, timeout, jump=jump, known_hosts=known_hosts)
    return _trust(key, host, port, known_hosts)


def known_key(host: str, port: int, known_hosts: Path) -> bool:
    """Whether known_hosts holds a key for the host already (of any type)."""
    known = _load_known_hosts(known_hosts).lookup(host_label(host, port))
    return known is not None and len(known) > 0


def trust_confirmed(
    host: str, port: int, known_hosts: Path, confirmed: str, timeout: float = 15.0
) -> tuple[str, bool]:
    """As :func:`trust_on_first_use`, for a key whose fingerprint an admin saw and confirmed
    (the web UI): refused unless the host still offers the key with that fingerprint."""
    key = server_key(host, port, timeout, known_hosts=known_hosts)
    if fingerprint(key) != confirmed:
        raise SshError(
            f"{host_label(host, port)}: the host now offers {key.get_name()} "
            f"{fingerprint(key)}, not the confirmed {confirmed}; refusing to trust it"
        )
    return _trust(key, host, port, known_hosts)


def _trust(key: paramiko.PKey, host: str, port: int, known_hosts: Path) -> tuple[str, bool]:
    label = host_label(host, port)
    keys = _load_known_hosts(known_hosts)
    known = keys.lookup(label)
    if known is not None and len(known) > 0:
        if key.get_name() in known and known[key.get_name()] == key:
            return fingerprint(key), False
        have = ", ".join(f"{name} {fingerprint(known[name])}" for name in known)
        raise SshError(
            f"{label}: host key CHANGED: the host offers {key.get_name()} {fingerprint(key)}, "
            f"{known_hosts} has {have}; refusing to trust it (possible man-in-the-middle). "
            f"If the change is expected, remove the old key from {known_hosts} and add the "
            "host again"
        )
    keys.add(label, key.get_name(), key)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    keys.save(str(known_hosts))
    return fingerprint(key), True
