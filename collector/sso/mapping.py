"""From an identity provider's groups to an Inventar role and organization.

The settings map group names to roles (``INVENTAR_OIDC_ROLE_MAP='{"inventar-admins":
"admin"}'``) and, optionally, to organizations (``INVENTAR_OIDC_ORG_MAP='{"musterstadt":
"Musterstadt"}'``). A group is matched by its name without case, without a leading ``/``
(Keycloak's full group path ``/inventar-admins``), and an LDAP group also by its DN or the
value of its first RDN (``cn=inventar-admins,ou=groups,dc=stadt,dc=de``).

* Role: of the roles the person's groups map to, the one with the most rights (admin, viewer,
  planner, dpo). None mapped: refused.
* Organization: where an organization map is configured, the person must be in exactly one
  mapped organization's groups (none or two: refused); without one, the person sees all
  organizations (one town on its own collector).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collector.models import PERSON_ROLES

ROLE_ORDER = ("admin", "viewer", "planner", "dpo")


class Refused(Exception):
    """The provider vouched for the person, but Inventar has no role for them."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Mapped:
    role: str
    org: str | None


def _names(group: str) -> set[str]:
    text = group.strip().lower()
    out = {text, text.lstrip("/")}
    first = text.split(",", 1)[0]
    if "=" in first:
        out.add(first.split("=", 1)[1].strip())
    return out


def _lookup(groups: Iterable[str], table: Mapping[str, str]) -> set[str]:
    keys = {k.strip().lower().lstrip("/"): v for k, v in table.items()}
    keys |= {k.strip().lower(): v for k, v in table.items()}
    found = set()
    for group in groups:
        for name in _names(group):
            if name in keys:
                found.add(keys[name])
    return found


def map_groups(
    groups: Iterable[str], role_map: Mapping[str, str], org_map: Mapping[str, str]
) -> Mapped:
    groups = list(groups)
    roles = _lookup(groups, role_map)
    unknown = roles - set(PERSON_ROLES)
    if unknown:
        raise Refused(f"the role map names unknown roles: {', '.join(sorted(unknown))}")
    if not roles:
        raise Refused("none of your groups is given a role in Inventar")
    role = next(r for r in ROLE_ORDER if r in roles)
    if not org_map:
        return Mapped(role, None)
    orgs = _lookup(groups, org_map)
    if not orgs:
        raise Refused("none of your groups belongs to an organization in Inventar")
    if len(orgs) > 1:
        raise Refused("your groups belong to several organizations: " + ", ".join(sorted(orgs)))
    return Mapped(role, orgs.pop())
