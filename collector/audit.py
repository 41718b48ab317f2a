"""The audit log: who changed what, when and from where, and who exported what.

Every service that changes something a person is responsible for (organizations, sites,
enrollment secrets, API tokens, agents, hosts, people, waivers, SSH targets, the asset
register) calls :func:`record` with the same session *before* it commits: the entry is
written in the change's own transaction, so a change without its entry (or an entry without
its change) cannot happen. Exports are recorded by the routes that stream them.

Who acted is an :class:`Actor`: the web UI passes the logged-in person, the API the token,
and a caller that passes nothing is the command line, recorded as ``cli:<OS user>``.

Rows are never updated (a database trigger refuses it, migration 0013) and deleted only by
:func:`purge` past ``INVENTAR_AUDIT_RETENTION_DAYS``, from a small background job.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from collector.models import AuditEntry, Organization, table_of, utcnow

log = logging.getLogger(__name__)

MAX_TARGET = 512
MAX_DETAIL_TEXT = 500


@dataclass(frozen=True)
class Actor:
    """Who acts: ``name`` as the log shows it, and the address the request came from."""

    name: str
    address: str | None = None

    @classmethod
    def person(cls, name: str, address: str | None) -> Actor:
        return cls(f"user:{name}", address)

    @classmethod
    def token(cls, token_id: int, address: str | None) -> Actor:
        return cls(f"token:{token_id}", address)

    @classmethod
    def cli(cls) -> Actor:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
            who = f"uid {os.getuid()}"
        return cls(f"cli:{who}", "cli")


def record(
    session: Any,
    action: str,
    target: str | None = None,
    *,
    actor: Actor | None = None,
    org_id: int | None = None,
    **details: object,
) -> None:
    """Adds one entry to ``session``'s transaction (the caller commits with its change)."""
    who = actor or Actor.cli()
    row = {
        "at": utcnow(),
        "actor": who.name[:200],
        "address": (who.address or None) and str(who.address)[:64],
        "action": action[:64],
        "target": target[:MAX_TARGET] if target else None,
        "org_id": org_id,
        "details": {k: _detail(v) for k, v in details.items() if v is not None},
    }
    session.connection().execute(sa.insert(table_of(AuditEntry)).values(**row))


def _detail(value: object) -> object:
    if isinstance(value, str):
        return value[:MAX_DETAIL_TEXT]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_detail(v) for v in value][:50]
    if isinstance(value, dict):
        return {str(k)[:64]: _detail(v) for k, v in list(value.items())[:50]}
    return str(value)[:MAX_DETAIL_TEXT]


def record_now(db: Any, action: str, target: str | None = None, *, actor: Actor | None = None,
               org_id: int | None = None, **details: object) -> None:  # fmt: skip
    """An entry in a transaction of its own: an export, which changes nothing else."""
    with db.write_session() as session:
        record(session, action, target, actor=actor, org_id=org_id, **details)
        session.commit()


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # a prefix: "user" finds user.add, user.disable, ...
    since: dt.date | None = None
    until: dt.date | None = None


def _conditions(org_id: int | None, f: AuditFilter) -> list[Any]:
    conds: list[Any] = []
    if org_id is not None:
        conds.append(col(AuditEntry.org_id) == org_id)
    if f.actor:
        conds.append(col(AuditEntry.actor) == f.actor)
    if f.action:
        conds.append(
            sa.or_(
                col(AuditEntry.action) == f.action,
                col(AuditEntry.action).startswith(f.action + "."),
            )
        )
    if f.since:
        conds.append(col(AuditEntry.at) >= dt.datetime.combine(f.since, dt.time(), dt.UTC))
    if f.until:
        end = dt.datetime.combine(f.until + dt.timedelta(days=1), dt.time(), dt.UTC)
        conds.append(col(AuditEntry.at) < end)
    return conds


def entries(
    session: Session, org_id: int | None, f: AuditFilter, *, offset: int = 0, limit: int = 100
) -> tuple[int, list[tuple[AuditEntry, str | None]]]:
    """Entries newest first with their organization's name: the count and one page. A person
    scoped to one organization sees that organization's entries only."""
    conds = _conditions(org_id, f)
    total = session.exec(select(func.count()).select_from(AuditEntry).where(*conds)).one()
    rows = session.exec(
        select(AuditEntry, Organization.name)
        .outerjoin(Organization, col(Organization.id) == col(AuditEntry.org_id))
        .where(*conds)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return int(total), [(e, o) for e, o in rows]


def purge(db: Any, retention_days: int, now: dt.datetime | None = None) -> int:
    """Deletes entries older than the retention; returns how many."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    with db.write_session() as session:
        result = session.connection().execute(
            sa.delete(table_of(AuditEntry)).where(table_of(AuditEntry).c.at < cutoff)
        )
        session.commit()
    return int(result.rowcount or 0)
