"""People who log in to the web UI: accounts, passwords (argon2id), server-side sessions and
the throttling of failed logins. Shared by the CLI (`users ...`) and the web UI.

Roles and organization scopes are those of API tokens (collector.models.PERSON_ROLES; no
organization = all). Everything lives in the database, so several collector replicas behind
one load balancer share accounts, sessions and failure counts.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, col, select

from collector.audit import Actor, record
from collector.models import (
    PERSON_ROLES,
    LoginThrottle,
    Organization,
    User,
    WebSession,
    table_of,
    utcnow,
)
from collector.security import hash_secret
from collector.services import ServiceError, get_org

# argon2-cffi's defaults are RFC 9106's second recommended option (argon2id, 64 MiB, t=3).
_hasher = PasswordHasher()
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes any length; this bounds the work one request can cause
NAME_MAX = 128

IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
# How stale a session's "last seen" may get: one write a minute per session, not per request.
TOUCH_RESOLUTION = dt.timedelta(minutes=1)

# Throttling: this many failures within the window lock the account (or the address) for
# LOCK_SECONDS. A correct password during the lock is refused too, or guessing would go on.
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCK = dt.timedelta(minutes=5)

# A hash to verify against when the account does not exist, so that "no such user" takes
# as long as "wrong password" (names are not revealed by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


# --- accounts -----------------------------------------------------------------------------


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ServiceError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ServiceError(f"the password may have at most {MAX_PASSWORD} characters")


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(c.isspace() or ord(c) < 32 for c in name):
        raise ServiceError(f"a user name has 1..{NAME_MAX} characters and no spaces")
    return name


def _check_role(role: str) -> None:
    if role not in PERSON_ROLES:
        raise ServiceError(f"a person's role is one of {', '.join(PERSON_ROLES)}")


def add_user(
    session: Session,
    name: str,
    role: str,
    password: str,
    org: str | None = None,
    *,
    actor: Actor | None = None,
) -> User:
    name = _valid_name(name)
    _check_role(role)
    check_password_rules(password)
    org_id = get_org(session, org).id if org is not None else None
    if session.exec(select(User).where(User.name == name)).first() is not None:
        raise ServiceError(f"user {name!r} exists already", 409)
    user = User(name=name, role=role, org_id=org_id, password_hash=_hasher.hash(password))
    session.add(user)
    record(session, "user.add", name, actor=actor, org_id=org_id, role=role, organization=org)
    session.commit()
    return user


def set_role(
    session: Session, name: str, role: str, org: str | None, *, actor: Actor | None = None
) -> User:
    """A new role and organization scope (None = all); the person's sessions end, so that
    the new rights hold from the next request on."""
    user = get_user(session, name)
    _check_role(role)
    org_id = get_org(session, org).id if org is not None else None
    assert user.id is not None
    before = (user.role, user.org_id)
    user.role, user.org_id = role, org_id
    session.add(user)
    if before != (role, org_id):
        _end_sessions(session, user.id)
        record(session, "user.role", name, actor=actor, org_id=org_id, role=role,
               organization=org, old_role=before[0])  # fmt: skip
    session.commit()
    return user


def enable_user(session: Session, name: str, *, actor: Actor | None = None) -> User:
    user = get_user(session, name)
    if user.disabled:
        user.disabled = False
        session.add(user)
        record(session, "user.enable", name, actor=actor, org_id=user.org_id)
        session.commit()
    return user


def get_user(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise ServiceError(f"unknown user {name!r}", 404)
    return user


def list_users(session: Session) -> list[tuple[User, str | None]]:
    query = (
        select(User, Organization.name)
        .outerjoin(Organization, col(Organization.id) == col(User.org_id))
        .order_by(col(User.name))
    )
    return [(user, org) for user, org in session.exec(query)]


def _end_sessions(session: Session, user_id: int) -> None:
    session.connection().execute(
        sa.delete(table_of(WebSession)).where(table_of(WebSession).c.user_id == user_id)
    )


def disable_user(session: Session, name: str, *, actor: Actor | None = None) -> User:
    """Disables the account and ends its sessions at once (on every replica: they are rows)."""
    user = get_user(session, name)
    assert user.id is not None
    user.disabled = True
    session.add(user)
    _end_sessions(session, user.id)
    record(session, "user.disable", name, actor=actor, org_id=user.org_id)
    session.commit()
    return user


def set_password(session: Session, name: str, password: str, *, actor: Actor | None = None) -> User:
    """A new password; the account's sessions end (whoever knew the old one is logged out)."""
    user = get_user(session, name)
    if user.source != "local":
        raise ServiceError(f"{name!r} logs in through {user.source}: its password is kept there")
    check_password_rules(password)
    assert user.id is not None
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = utcnow()
    session.add(user)
    _end_sessions(session, user.id)
    record(session, "user.password", name, actor=actor, org_id=user.org_id)
    session.commit()
    return user


def set_totp(
    session: Session, name: str, secret: str | None, *, actor: Actor | None = None
) -> User:
    """Turns the second factor of a local account on (``secret``) or off (None)."""
    user = get_user(session, name)
    if user.source != "local":
        raise ServiceError("single sign-on accounts use their provider's second factor")
    user.totp_secret, user.totp_last_step = secret, None
    session.add(user)
    record(session, "user.totp_on" if secret else "user.totp_off", name, actor=actor,
           org_id=user.org_id)  # fmt: skip
    session.commit()
    return user


def verify_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's; with no user, the same work is done for nothing."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and (
            user is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# --- throttling ---------------------------------------------------------------------------


def throttle_keys(name: str, address: str | None) -> list[str]:
    keys = ["user:" + name.strip().lower()[:NAME_MAX]]
    if address:
        keys.append("addr:" + address[:64])
    return keys


def locked_for(session: Session, keys: list[str], now: dt.datetime | None = None) -> int:
    """Seconds until a login for these keys may be tried again (0 = now)."""
    now = now or utcnow()
    rows = session.exec(select(LoginThrottle).where(col(LoginThrottle.key).in_(keys))).all()
    waits = [
        (row.locked_until - now).total_seconds()
        for row in rows
        if row.locked_until is not None and row.locked_until > now
    ]
    return int(max(waits) + 0.999) if waits else 0


def record_failure(session: Session, keys: list[str], now: dt.datetime | None = None) -> int:
    """Counts a failed login for each key; returns the seconds of a lock it started (or 0)."""
    now = now or utcnow()
    locked = 0
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
        if now - row.window_start > FAILURE_WINDOW:
            row.failures, row.window_start = 0, now
        row.failures += 1
        if row.failures >= MAX_FAILURES:
            row.locked_until = now + LOCK
            row.failures, row.window_start = 0, now
            locked = int(LOCK.total_seconds())
        session.add(row)
    session.commit()
    return locked


def purge_throttle(session: Session, now: dt.datetime | None = None) -> None:
    """Forgets counts whose window and lock are over (a login calls it, as purge_sessions)."""
    now = now or utcnow()
    throttle = table_of(LoginThrottle)
    session.connection().execute(
        sa.delete(throttle).where(
            throttle.c.window_start < now - FAILURE_WINDOW,
            sa.or_(throttle.c.locked_until.is_(None), throttle.c.locked_until < now),
        )
    )
    session.commit()


def clear_failures(session: Session, key: str) -> None:
    session.connection().execute(
        sa.delete(table_of(LoginThrottle)).where(table_of(LoginThrottle).c.key == key)
    )


# --- sessions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Who is logged in, as a page sees it: what a Principal is for an API token."""

    user_id: int
    name: str
    role: str
    org_id: int | None
    csrf_token: str
    session_hash: str
    source: str = "local"
    totp: bool = False


def start_session(session: Session, user: User, old_token: str | None = None) -> str:
    """A new session for ``user`` (a new id at every login: a session id planted before the
    login is worth nothing); ``old_token``'s session, if any, ends. Returns the cookie value."""
    if old_token:
        end_session(session, old_token)
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    now = utcnow()
    session.add(
        WebSession(
            token_hash=hash_secret(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    user.last_login_at = now
    session.add(user)
    session.commit()
    return token


def end_session(session: Session, token: str) -> None:
    session.connection().execute(
        sa.delete(table_of(WebSession)).where(
            table_of(WebSession).c.token_hash == hash_secret(token[:256])
        )
    )
    session.commit()


def session_person(session: Session, token: str, now: dt.datetime | None = None) -> Person | None:
    """The person behind a session cookie, or None: unknown, idle for more than 30 minutes,
    older than 12 hours, or its account disabled (an ended session's row is deleted)."""
    now = now or utcnow()
    digest = hash_secret(token[:256])
    row = session.exec(
        select(WebSession, User)
        .join(User, col(User.id) == col(WebSession.user_id))
        .where(WebSession.token_hash == digest)
    ).first()
    if row is None:
        return None
    web, user = row
    expired = now - web.last_seen_at > IDLE_TIMEOUT or now - web.created_at > ABSOLUTE_TIMEOUT
    if expired or user.disabled:
        end_session(session, token)
        return None
    if now - web.last_seen_at >= TOUCH_RESOLUTION:
        session.connection().execute(
            sa.update(table_of(WebSession))
            .where(table_of(WebSession).c.token_hash == digest)
            .values(last_seen_at=now)
        )
        session.commit()
    assert user.id is not None
    return Person(user.id, user.name, user.role, user.org_id, web.csrf_token, digest,
                  user.source, user.totp_secret is not None)  # fmt: skip


def purge_sessions(session: Session, now: dt.datetime | None = None) -> int:
    """Deletes sessions past either timeout (a login calls it: no separate job needed)."""
    now = now or utcnow()
    sessions = table_of(WebSession)
    result = session.connection().execute(
        sa.delete(sessions).where(
            sa.or_(
                sessions.c.last_seen_at < now - IDLE_TIMEOUT,
                sessions.c.created_at < now - ABSOLUTE_TIMEOUT,
            )
        )
    )
    session.commit()
    return int(result.rowcount or 0)


# --- single sign-on -----------------------------------------------------------------------


SSO_PASSWORD = "!"  # no argon2 hash: verify_password never accepts it


def sign_on(
    session: Session,
    *,
    source: str,
    external_id: str,
    name: str,
    role: str,
    org_id: int | None,
    address: str | None,
) -> User:
    """The account of a person the identity provider vouched for, created at the first login
    and brought up to date (role, organization from the groups) at every later one.

    Refused: a disabled account (an admin's decision outlives the provider's groups), and a
    name that a local account or another provider's person has already.
    """
    name = _valid_name(name)
    _check_role(role)
    actor = Actor.person(name, address)
    user = session.exec(
        select(User).where(User.source == source, User.external_id == external_id)
    ).first()
    if user is None:
        if session.exec(select(User).where(User.name == name)).first() is not None:
            raise ServiceError(
                f"the user name {name!r} belongs to another account (a local one, or one of "
                "another sign-on); an administrator renames or removes it first",
                409,
            )
        user = User(name=name, role=role, org_id=org_id, password_hash=SSO_PASSWORD,
                    source=source, external_id=external_id)  # fmt: skip
        session.add(user)
        record(session, f"user.{source}_add", name, actor=actor, org_id=org_id, role=role)
        session.commit()
        return user
    if user.disabled:
        raise ServiceError("this account is disabled; ask an administrator", 403)
    if (user.role, user.org_id, user.name) != (role, org_id, name):
        old = (user.role, user.org_id, user.name)
        user.role, user.org_id, user.name = role, org_id, name
        session.add(user)
        assert user.id is not None
        _end_sessions(session, user.id)
        record(session, f"user.{source}_update", name, actor=actor, org_id=org_id, role=role,
               old_role=old[0], old_name=old[2])  # fmt: skip
        session.commit()
    return user
