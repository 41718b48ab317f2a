"""SSH targets: add, list, remove. Only references to credentials are stored: the key file's
path, the password's environment variable name or the path of its 0600 file."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from collector.models import Site, SshTarget
from collector.services import ServiceError, get_site

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
        try:
            mode = stat.S_IMODE(spec.password_file.stat().st_mode)
        except OSError as exc:
            raise ServiceError(f"password file {spec.password_file}: {exc.strerror}") from None
        if mode & 0o077:
            raise ServiceError(
                f"password file {spec.password_file} must have mode 0600 (it has {mode:04o})"
            )


def add_target(session: Session, spec: TargetSpec) -> SshTarget:
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
    )
    session.add(target)
    session.commit()
    return target


def list_targets(session: Session) -> list[tuple[SshTarget, Site]]:
    rows = session.exec(
        select(SshTarget, Site)
        .join(Site, col(Site.id) == col(SshTarget.site_id))
        .order_by(col(SshTarget.host), col(SshTarget.port))
    ).all()
    return [(t, s) for t, s in rows]


def remove_target(session: Session, host: str, port: int = 22) -> None:
    target = session.exec(
        select(SshTarget).where(SshTarget.host == host, SshTarget.port == port)
    ).first()
    if target is None:
        raise ServiceError(f"no SSH target {host} port {port}", 404)
    session.delete(target)
    session.commit()
