"""Administrative operations shared by the command line and the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

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
)
from collector.security import (
    AGENT_PREFIX,
    API_PREFIX,
    ENROLL_PREFIX,
    hash_secret,
    new_secret,
)


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


def add_org(session: Session, name: str) -> Organization:
    name = name.strip()
    if not name or len(name) > 128:
        raise ServiceError("organization name must have 1..128 characters")
    if session.exec(select(Organization).where(Organization.name == name)).first():
        raise ServiceError(f"organization {name!r} exists already", 409)
    org = Organization(name=name)
    session.add(org)
    session.commit()
    return org


def list_orgs(session: Session) -> list[Organization]:
    return list(session.exec(select(Organization).order_by(col(Organization.name))))


def get_site(session: Session, name: str) -> Site:
    site = session.exec(select(Site).where(Site.name == name)).first()
    if site is None:
        raise ServiceError(f"unknown site {name!r}", 404)
    return site


def add_site(session: Session, name: str, kind: str, org: str | None = None) -> Site:
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


def create_enroll_secret(session: Session, site_name: str) -> str:
    site = get_site(session, site_name)
    assert site.id is not None
    secret = new_secret(ENROLL_PREFIX)
    session.add(EnrollmentSecret(site_id=site.id, secret_hash=hash_secret(secret)))
    session.commit()
    return secret


def create_api_token(
    session: Session, role: str, name: str | None = None, org: str | None = None
) -> str:
    if role not in ROLES:
        raise ServiceError(f"role must be one of {', '.join(ROLES)}")
    org_id = None
    if org is not None:
        org_id = get_org(session, org).id
    token = new_secret(API_PREFIX)
    session.add(ApiToken(name=name, role=role, org_id=org_id, token_hash=hash_secret(token)))
    session.commit()
    return token


@dataclass(frozen=True)
class Enrollment:
    agent_id: str
    token: str
    site: str


def enroll(session: Session, secret: str, machine_id: str, hostname: str | None) -> Enrollment:
    row = session.exec(
        select(EnrollmentSecret).where(EnrollmentSecret.secret_hash == hash_secret(secret))
    ).first()
    if row is None or row.revoked:
        raise ServiceError("unknown or revoked enrollment secret", 401)
    token = new_secret(AGENT_PREFIX)
    agent = Agent(
        id=str(uuid.uuid4()),
        site_id=row.site_id,
        machine_id=machine_id,
        hostname=hostname,
        token_hash=hash_secret(token),
    )
    session.add(agent)
    site = session.get(Site, row.site_id)
    session.commit()
    return Enrollment(agent.id, token, site.name if site else "")


def revoke_agent(session: Session, agent_id: str) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise ServiceError(f"unknown agent {agent_id!r}", 404)
    agent.revoked = True
    session.add(agent)
    session.commit()
    return agent


def list_agents(session: Session) -> list[tuple[Agent, str]]:
    query = (
        select(Agent, Site.name)
        .join(Site, col(Site.id) == col(Agent.site_id))
        .order_by(col(Agent.created_at))
    )
    return [(a, s) for a, s in session.exec(query)]
