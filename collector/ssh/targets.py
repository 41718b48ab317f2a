"""SSH targets: add, list, remove. Only references to credentials are stored: the key file's
path, the password's environment variable name or the path of its 0600 file (the same for
sudo's password and the jump host's key)."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from collector.audit import Actor, record
from collector.models import Site, SshTarget
from collector.services import ServiceError, get_site
from collector.ssh.names import parse_jump

ROLES = ("workplace", "classroom", "pupil-device", "kiosk", "server", "other")
_HOST = re.compile(r"^[A-Za-z0-9._:\-\[\]%]{1,253}$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._\-$]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")


@dataclass(frozen=True)
class TargetSpec:
    host: str
    user: str
    site: str
    port: int = 22
    key_file: Path | None = None
    password_env: str | None = None
    password_file: Path | None = None
    known_hosts: Path | None = None
    role: str | None = None
    sudo: bool = False  # NOPASSWD
    sudo_password_env: str | None = None
    sudo_password_file: Path | None = None
    jump: str | None = None  # user@host[:port]
    jump_key_file: Path | None = None

    @property
    def sudo_mode(self) -> str | None:
        if self.sudo_password_env is not None or self.sudo_password_file is not None:
            return "password"
        return "nopasswd" if self.sudo else None


def _check_password_file(path: Path, what: str) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise ServiceError(f"{what} file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ServiceError(f"{what} file {path} must have mode 0600 (it has {mode:04o})")


def _validate_access(spec: TargetSpec) -> None:
    """sudo and jump host options."""
    given = [spec.sudo, spec.sudo_password_env is not None, spec.sudo_password_file is not None]
    if sum(given) > 1:
        raise ServiceError("give at most one of --sudo, --sudo-password-env, --sudo-password-file")
    if spec.sudo_password_env is not None and not _ENV.fullmatch(spec.sudo_password_env):
        raise ServiceError(f"invalid environment variable name {spec.sudo_password_env!r}")
    if spec.sudo_password_file is not None:
        _check_password_file(spec.sudo_password_file, "sudo password")
    if spec.jump is not None:
        try:
            user, host, _port = parse_jump(spec.jump)
        except ValueError as exc:
            raise ServiceError(str(exc)) from None
        if not _USER.fullmatch(user) or not _HOST.fullmatch(host):
            raise ServiceError(f"invalid jump host {spec.jump!r}")
    if spec.jump_key_file is not None:
        if spec.jump is None:
            raise ServiceError("--jump-key needs --jump")
        if not os.access(spec.jump_key_file, os.R_OK):
            raise ServiceError(f"jump key file {spec.jump_key_file} is not readable")


def _validate(spec: TargetSpec) -> None:
    if not _HOST.fullmatch(spec.host):
        raise ServiceError(f"invalid host {spec.host!r}")
    if not 1 <= spec.port <= 65535:
        raise ServiceError(f"invalid port {spec.port}")
    if not _USER.fullmatch(spec.user):
        raise ServiceError(f"invalid user name {spec.user!r}")
    sources = [spec.key_file, spec.password_env, spec.password_file]
    if sum(s is not None for s in sources) != 1:
        raise ServiceError("give exactly one of --key, --password-env, --password-file")
    if spec.role is not None and spec.role not in ROLES:
        raise ServiceError(f"role must be one of {', '.join(ROLES)}")
    if spec.key_file is not None and not os.access(spec.key_file, os.R_OK):
        raise ServiceError(f"key file {spec.key_file} is not readable")
    if spec.password_env is not None and not _ENV.fullmatch(spec.password_env):
        raise ServiceError(f"invalid environment variable name {spec.password_env!r}")
    if spec.password_file is not None:
        _check_password_file(spec.password_file, "password")
    _validate_access(spec)


def add_target(session: Session, spec: TargetSpec, *, actor: Actor | None = None) -> SshTarget:
    _validate(spec)
    site = get_site(session, spec.site)
    assert site.id is not None
    existing = session.exec(
        select(SshTarget).where(SshTarget.host == spec.host, SshTarget.port == spec.port)
    ).first()
    if existing is not None:
        raise ServiceError(f"{spec.host} port {spec.port} is a target already", 409)

    def absolute(path: Path | None) -> str | None:
        return str(path.resolve()) if path is not None else None

    target = SshTarget(
        site_id=site.id,
        host=spec.host,
        port=spec.port,
        user=spec.user,
        key_file=absolute(spec.key_file),
        password_env=spec.password_env,
        password_file=absolute(spec.password_file),
        known_hosts=absolute(spec.known_hosts),
        role=spec.role,
        sudo=spec.sudo_mode,
        sudo_password_env=spec.sudo_password_env,
        sudo_password_file=absolute(spec.sudo_password_file),
        jump=spec.jump,
        jump_key_file=absolute(spec.jump_key_file),
    )
    session.add(target)
    record(session, "ssh.add", f"{spec.user}@{spec.host}:{spec.port}", actor=actor,
           org_id=site.org_id, site=site.name, sudo=spec.sudo_mode, jump=spec.jump)  # fmt: skip
    session.commit()
    return target


def list_targets(session: Session) -> list[tuple[SshTarget, Site]]:
    rows = session.exec(
        select(SshTarget, Site)
        .join(Site, col(Site.id) == col(SshTarget.site_id))
        .order_by(col(SshTarget.host), col(SshTarget.port))
    ).all()
    return [(t, s) for t, s in rows]


def remove_target(
    session: Session, host: str, port: int = 22, *, actor: Actor | None = None
) -> None:
    target = session.exec(
        select(SshTarget).where(SshTarget.host == host, SshTarget.port == port)
    ).first()
    if target is None:
        raise ServiceError(f"no SSH target {host} port {port}", 404)
    site = session.get(Site, target.site_id)
    record(session, "ssh.remove", f"{target.user}@{host}:{port}", actor=actor,
           org_id=site.org_id if site else None)  # fmt: skip
    session.delete(target)
    session.commit()
