"""What the data-protection view shows: the report's fields as the agent collects them (from
the wire contract, agent/schema.py, so the list cannot fall behind the agent), what the agent
leaves out by design, and who has which role."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass

import msgspec
from sqlmodel import Session, col, select

from agent.schema import Report
from collector.models import ApiToken, Organization, User
from collector.services import credential_state

# Report parts that say nothing about the machine's owner: the wire format's own fields.
_FRAME = ("schema_version", "report_id", "collected_at", "agent", "collection", "delta")


def _model_of(annotation: object) -> type[msgspec.Struct] | None:
    """The schema model inside ``X | None``, ``list[X]`` or ``Annotated[list[X], ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    if isinstance(annotation, types.UnionType):
        for arg in annotation.__args__:
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _fields(model: type[msgspec.Struct], prefix: str = "", depth: int = 0) -> list[str]:
    out: list[str] = []
    for info in msgspec.structs.fields(model):
        name = info.name
        inner = _model_of(info.type)
        if inner is not None and depth < 1:
            out.extend(_fields(inner, f"{prefix}{name}.", depth + 1))
        else:
            out.append(prefix + name)
    return out


def collected_fields() -> list[tuple[str, list[str]]]:
    """(section, its fields) of every report section, in the wire contract's order."""
    out = []
    for info in msgspec.structs.fields(Report):
        name = info.name
        if name in _FRAME:
            continue
        model = _model_of(info.type)
        out.append((name, _fields(model) if model is not None else []))
    return out


@dataclass(frozen=True)
class RoleHolder:
    kind: str  # person | token
    name: str
    role: str
    organization: str | None
    state: str
    source: str | None = None


def role_holders(session: Session) -> list[RoleHolder]:
    """Every person and every API token that is not revoked, with role and scope."""
    out = []
    for user, org in session.exec(
        select(User, Organization.name)
        .outerjoin(Organization, col(Organization.id) == col(User.org_id))
        .order_by(col(User.role), col(User.name))
    ):
        state = "disabled" if user.disabled else "active"
        out.append(RoleHolder("person", user.name, user.role, org, state, user.source))
    for token, org in session.exec(
        select(ApiToken, Organization.name)
        .outerjoin(Organization, col(Organization.id) == col(ApiToken.org_id))
        .where(col(ApiToken.revoked).is_(False))
        .order_by(col(ApiToken.role), col(ApiToken.id))
    ):
        state = credential_state(token.revoked, token.expires_at)
        if state == "active":
            out.append(RoleHolder("token", token.name or f"#{token.id}", token.role, org, state))
    return out
