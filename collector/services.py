"""Administrative operations shared by the command line and the API."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from collector.audit import Actor, record
from collector.db import lock_for_transaction
from collector.models import (
    DEFAULT_ORG,
    ROLES,
    SITE_KINDS,
    Agent,
    ApiToken,
    EnrollmentSecret,
    Host,
    Organization,
    Site,
    table_of,
    utcnow,
)
from collector.security import (
    AGENT_PREFIX,
    API_PREFIX,
    ENROLL_PREFIX,
    hash_secret,
    new_secret,
)

log = logging.getLogger(__name__)

# A --replace-agents secret takes over machines: it lives for a re-imaging day or week, never
# for long.
MAX_REPLACE_SECRET_DAYS = 30


class ServiceError(Exception):
    """A request that cannot be fulfilled; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def get_org(session: Session, name: str | None) -> Organization:
    org = session.exec(
        select(Organization).where(Organization.name == (name or DEFAULT_ORG))
    ).first()
    if org is None:
        raise ServiceError(f"unknown organization {name!r}", 404)
    return org


def add_org(session: Session, name: str, *, actor: Actor | None = None) -> Organization:
    name = name.strip()
    if not name or len(name) > 128:
        raise ServiceError("organization name must have 1..128 characters")
    if session.exec(select(Organization).where(Organization.name == name)).first():
        raise ServiceError(f"organization {name!r} exists already", 409)
    org = Organization(name=name)
    session.add(org)
    session.flush()
    record(session, "org.add", name, actor=actor, org_id=org.id)
    session.commit()
    return org


def list_orgs(session: Session) -> list[Organization]:
    return list(session.exec(select(Organization).order_by(col(Organization.name))))


def get_site(session: Session, name: str) -> Site:
    site = session.exec(select(Site).where(Site.name == name)).first()
    if site is None:
        raise ServiceError(f"unknown site {name!r}", 404)
    return site


def add_site(
    session: Session, name: str, kind: str, org: str | None = None, *, actor: Actor | None = None
) -> Site:
    name = name.strip()
    if not name or len(name) > 256:
        raise ServiceError("site name must have 1..256 characters")
    if kind not in SITE_KINDS:
        raise ServiceError(f"site kind must be one of {', '.join(SITE_KINDS)}")
    organization = get_org(session, org)
    if session.exec(select(Site).where(Site.name == name)).first():
        raise ServiceError(f"site {name!r} exists already", 409)
    assert organization.id is not None
    site = Site(name=name, kind=kind, org_id=organization.id)
    session.add(site)
    record(session, "site.add", name, actor=actor, org_id=organization.id, kind=kind,
           organization=organization.name)  # fmt: skip
    session.commit()
    return site


@dataclass(frozen=True)
class SiteInfo:
    id: int
    name: str
    kind: str
    org: str
    hosts: int


def list_sites(session: Session, org_id: int | None = None) -> list[SiteInfo]:
    counts = select(Host.site_id, func.count().label("n")).group_by(col(Host.site_id)).subquery()
    query = (
        select(Site, Organization.name, counts.c.n)
        .join(Organization, col(Organization.id) == col(Site.org_id))
        .outerjoin(counts, counts.c.site_id == col(Site.id))
        .order_by(col(Site.name))
    )
    if org_id is not None:
        query = query.where(Site.org_id == org_id)
    out = []
    for site, org_name, n in session.exec(query):
        assert site.id is not None
        out.append(SiteInfo(site.id, site.name, site.kind, org_name, int(n or 0)))
    return out


def parse_expiry(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """``--expires``: a duration (``90d``, ``12h``, ``30m``) from now, or a date
    (``2027-03-31``, valid to the end of that day, UTC) or an ISO 8601 time with offset."""
    now = now or utcnow()
    value = text.strip()
    duration = re.fullmatch(r"(\d{1,5})\s*([dhm])", value)
    if duration:
        amount, unit = int(duration[1]), duration[2]
        unit_seconds = {"d": 86400, "h": 3600, "m": 60}[unit]
        when = now + dt.timedelta(seconds=amount * unit_seconds)
    else:
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                day = dt.date.fromisoformat(value)
                when = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
            else:
                when = dt.datetime.fromisoformat(value)
                if when.tzinfo is None:
                    raise ServiceError(f"--expires {text!r}: give a time zone offset (or a date)")
        except ValueError:
            raise ServiceError(
                f"--expires {text!r}: give a duration (90d, 12h, 30m), a date (2027-03-31) "
                "or an ISO 8601 time with offset"
            ) from None
    if when <= now:
        raise ServiceError(f"--expires {text!r} is in the past")
    return when


def create_enroll_secret(
    session: Session,
    site_name: str,
    *,
    expires_at: dt.datetime | None = None,
    max_uses: int | None = None,
    replace_agents: bool = False,
    name: str | None = None,
    actor: Actor | None = None,
) -> str:
    """A new secret for the site (shown once). ``replace_agents`` lets it re-enroll machines
    of its own site that have an active agent (re-imaging); it must expire within
    MAX_REPLACE_SECRET_DAYS."""
    site = get_site(session, site_name)
    assert site.id is not None
    if max_uses is not None and max_uses < 1:
        raise ServiceError("--max-uses must be at least 1")
    if replace_agents:
        if expires_at is None:
            raise ServiceError("a --replace-agents secret needs --expires (at most "
                               f"{MAX_REPLACE_SECRET_DAYS} days)")  # fmt: skip
        if expires_at - utcnow() > dt.timedelta(days=MAX_REPLACE_SECRET_DAYS):
            raise ServiceError(
                f"a --replace-agents secret may live {MAX_REPLACE_SECRET_DAYS} days at most"
            )
    secret = new_secret(ENROLL_PREFIX)
    session.add(
        EnrollmentSecret(
            site_id=site.id,
            secret_hash=hash_secret(secret),
            name=name,
            expires_at=expires_at,
            max_uses=max_uses,
            replace_agents=replace_agents,
        )
    )
    session.flush()
    record(
        session, "enroll_secret.create", f"site {site.name}", actor=actor, org_id=site.org_id,
        name=name, expires_at=expires_at, max_uses=max_uses, replace_agents=replace_agents,
    )  # fmt: skip
    session.commit()
    return secret


def list_enroll_secrets(
    session: Session, site_name: str | None = None
) -> list[tuple[EnrollmentSecret, str]]:
    query = (
        select(EnrollmentSecret, Site.name)
        .join(Site, col(Site.id) == col(EnrollmentSecret.site_id))
        .order_by(col(EnrollmentSecret.id))
    )
    if site_name is not None:
        query = query.where(Site.name == site_name)
    return [(secret, site) for secret, site in session.exec(query)]


def revoke_enroll_secret(
    session: Session, secret_id: int, *, actor: Actor | None = None
) -> EnrollmentSecret:
    row = session.get(EnrollmentSecret, secret_id)
    if row is None:
        raise ServiceError(f"unknown enrollment secret {secret_id}", 404)
    if not row.revoked:
        row.revoked, row.revoked_at = True, utcnow()
        session.add(row)
        site = session.get(Site, row.site_id)
        record(
            session, "enroll_secret.revoke", f"secret {secret_id}", actor=actor,
            org_id=site.org_id if site else None, site=site.name if site else None,
        )  # fmt: skip
        session.commit()
    return row


def create_api_token(
    session: Session,
    role: str,
    name: str | None = None,
    org: str | None = None,
    *,
    expires_at: dt.datetime | None = None,
    actor: Actor | None = None,
) -> str:
    if role not in ROLES:
        raise ServiceError(f"role must be one of {', '.join(ROLES)}")
    org_id = None
    if org is not None:
        org_id = get_org(session, org).id
    token = new_secret(API_PREFIX)
    session.add(
        ApiToken(
            name=name,
            role=role,
            org_id=org_id,
            token_hash=hash_secret(token),
            expires_at=expires_at,
        )
    )
    session.flush()
    record(
        session, "token.create", name or role, actor=actor, org_id=org_id, role=role,
        organization=org, expires_at=expires_at,
    )  # fmt: skip
    session.commit()
    return token


def list_api_tokens(session: Session) -> list[tuple[ApiToken, str | None]]:
    query = (
        select(ApiToken, Organization.name)
        .outerjoin(Organization, col(Organization.id) == col(ApiToken.org_id))
        .order_by(col(ApiToken.id))
    )
    return [(token, org) for token, org in session.exec(query)]


def revoke_api_token(session: Session, token_id: int, *, actor: Actor | None = None) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise ServiceError(f"unknown API token {token_id}", 404)
    if not row.revoked:
        row.revoked, row.revoked_at = True, utcnow()
        session.add(row)
        record(session, "token.revoke", f"token {token_id}", actor=actor, org_id=row.org_id,
               name=row.name, role=row.role)  # fmt: skip
        session.commit()
    return row


def credential_state(
    revoked: bool, expires_at: dt.datetime | None, now: dt.datetime | None = None
) -> str:
    """``active``, ``revoked`` or ``expired``, as lists show it."""
    if revoked:
        return "revoked"
    if expires_at is not None and expires_at <= (now or utcnow()):
        return "expired"
    return "active"


@dataclass(frozen=True)
class Enrollment:
    agent_id: str
    token: str
    site: str
    replaced: list[str]  # agents this enrollment revoked (a --replace-agents secret)


def enroll(
    session: Session,
    secret: str,
    machine_id: str,
    hostname: str | None,
    now: dt.datetime | None = None,
) -> Enrollment:
    """An agent for a *new* machine of the secret's site (design.md "Security model").

    Refused: an unknown, revoked, expired or used-up secret (401); a machine id that has an
    active agent in the organization, unless the secret is a --replace-agents secret of that
    agent's own site, which then revokes it (409); a machine whose host belongs to another
    site (409: moving a host is an admin's action, `hosts move`).
    """
    now = now or utcnow()
    row = session.exec(
        select(EnrollmentSecret).where(EnrollmentSecret.secret_hash == hash_secret(secret))
    ).first()
    if row is None or row.revoked:
        raise ServiceError("unknown or revoked enrollment secret", 401)
    if row.expires_at is not None and row.expires_at <= now:
        raise ServiceError("this enrollment secret has expired; ask an admin for a new one", 401)
    if row.max_uses is not None and row.uses >= row.max_uses:
        raise ServiceError(
            f"this enrollment secret has been used {row.uses} times, its limit; ask an admin "
            "for a new one",
            401,
        )
    site = session.get(Site, row.site_id)
    assert site is not None and site.id is not None
    # Two enrollments of one machine at once must not both find no agent (PostgreSQL; SQLite
    # has one writer).
    lock_for_transaction(session.connection(), "enroll", site.org_id, machine_id)
    active = list(
        session.exec(
            select(Agent)
            .join(Site, col(Site.id) == col(Agent.site_id))
            .where(
                Agent.machine_id == machine_id,
                col(Agent.revoked).is_(False),
                Site.org_id == site.org_id,
            )
        )
    )
    host = session.exec(
        select(Host).where(Host.org_id == site.org_id, Host.machine_id == machine_id)
    ).first()
    agent_id = str(uuid.uuid4())
    if active and (not row.replace_agents or any(a.site_id != site.id for a in active)):
        ids = ", ".join(a.id for a in active)
        raise ServiceError(
            f"this machine is enrolled already (active agent {ids}); if it was re-imaged "
            "or its agent state was lost, an admin revokes the old agent (inventar-collector "
            "agents revoke AGENT_ID) or enrolls it with a secret of its site created with "
            "--replace-agents",
            409,
        )
    if host is not None and host.site_id != site.id:
        raise ServiceError(
            "this machine is known at another site; an admin moves the host first "
            "(inventar-collector hosts move), then it can enroll with this site's secret",
            409,
        )
    for old in active:
        old.revoked, old.revoked_at, old.replaced_by = True, now, agent_id
        session.add(old)
        log.warning(
            "enrollment: agent %s of machine %s at site %s replaced by agent %s "
            "(--replace-agents secret %s)",
            old.id, machine_id, site.name, agent_id, row.id,
        )  # fmt: skip
    row.uses += 1
    row.last_used_at = now
    session.add(row)
    token = new_secret(AGENT_PREFIX)
    session.add(
        Agent(
            id=agent_id,
            site_id=site.id,
            machine_id=machine_id,
            hostname=hostname,
            token_hash=hash_secret(token),
            created_at=now,
        )
    )
    session.commit()
    return Enrollment(agent_id, token, site.name, [a.id for a in active])


def move_host(
    session: Session, host_id: int, site_name: str, *, actor: Actor | None = None
) -> tuple[Host, str]:
    """Moves a host (and its active agents) to another site of its organization; returns the
    host and the name of the site it was at."""
    host = session.get(Host, host_id)
    if host is None:
        raise ServiceError(f"unknown host {host_id}", 404)
    site = get_site(session, site_name)
    if site.org_id != host.org_id:
        raise ServiceError(f"site {site_name!r} belongs to another organization", 409)
    old = session.get(Site, host.site_id)
    host.site_id = site.id  # type: ignore[assignment]
    session.add(host)
    for agent in session.exec(
        select(Agent).where(Agent.machine_id == host.machine_id, col(Agent.revoked).is_(False))
    ):
        agent_site = session.get(Site, agent.site_id)
        if agent_site is not None and agent_site.org_id == host.org_id:
            agent.site_id = site.id  # type: ignore[assignment]
            session.add(agent)
    record(session, "host.move", host.hostname or host.machine_id, actor=actor,
           org_id=host.org_id, host_id=host.id, old_site=old.name if old else None,
           site=site_name)  # fmt: skip
    session.commit()
    return host, old.name if old else ""


def accept_identity(session: Session, host_id: int, *, actor: Actor | None = None) -> Host:
    """An admin confirms a host's changed hardware identity (e.g. a replaced mainboard)."""
    host = session.get(Host, host_id)
    if host is None:
        raise ServiceError(f"unknown host {host_id}", 404)
    host.identity_changed_at, host.identity_change = None, None
    session.add(host)
    record(session, "host.identity_ok", host.hostname or host.machine_id, actor=actor,
           org_id=host.org_id, host_id=host.id)  # fmt: skip
    session.commit()
    return host


def revoke_agent(session: Session, agent_id: str, *, actor: Actor | None = None) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise ServiceError(f"unknown agent {agent_id!r}", 404)
    if not agent.revoked:
        agent.revoked, agent.revoked_at = True, utcnow()
        session.add(agent)
        site = session.get(Site, agent.site_id)
        record(session, "agent.revoke", agent.hostname or agent.id, actor=actor,
               org_id=site.org_id if site else None, agent_id=agent.id)  # fmt: skip
        session.commit()
    return agent


def list_agents(session: Session) -> list[tuple[Agent, str, dt.datetime | None]]:
    """Every agent with its site's name and its last contact: when its host last reported
    (ingest does not write to the agents table per report; the host's row has it)."""
    hosts = table_of(Host)
    last_contact = (
        sa.select(sa.func.max(hosts.c.last_seen))
        .where(hosts.c.agent_id == col(Agent.id))
        .scalar_subquery()
    )
    query = (
        sa.select(Agent, col(Site.name), last_contact)
        .join(Site, col(Site.id) == col(Agent.site_id))
        .order_by(col(Agent.created_at))
    )
    return [(a, s, seen) for a, s, seen in session.execute(query)]
