"""LDAP / Active Directory: a person's password is checked by binding as them, over LDAPS or
StartTLS with the server's certificate verified (``INVENTAR_LDAP_CA_FILE`` or the system's
trust store); plain LDAP is refused, so a password never crosses the network in clear.

The person is found first: a search under ``INVENTAR_LDAP_USER_BASE`` with
``INVENTAR_LDAP_USER_FILTER`` (the typed name escaped as RFC 4515 says), bound as the service
account ``INVENTAR_LDAP_BIND_DN`` or anonymously. Groups: the person's ``memberOf`` (Active
Directory, OpenLDAP's memberof overlay) and, with ``INVENTAR_LDAP_GROUP_BASE``, the groups
whose ``member`` or ``uniqueMember`` is the person.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from collector.settings import Settings


class LdapUnavailable(Exception):
    """The directory could not be asked (down, TLS refused, misconfigured)."""


@dataclass(frozen=True)
class LdapPerson:
    dn: str
    username: str
    groups: list[str]


def _server(settings: Settings) -> Server:
    url = settings.ldap_url or ""
    if url.startswith("ldap://") and not settings.ldap_starttls:
        raise LdapUnavailable("plain LDAP is refused: use ldaps:// or INVENTAR_LDAP_STARTTLS")
    if not url.startswith(("ldaps://", "ldap://")):
        raise LdapUnavailable(f"INVENTAR_LDAP_URL must start with ldaps:// or ldap://: {url!r}")
    tls = Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=str(settings.ldap_ca_file) if settings.ldap_ca_file else None,
        version=ssl.PROTOCOL_TLS_CLIENT,
    )
    return Server(url, use_ssl=url.startswith("ldaps://"), tls=tls, get_info=NONE,
                  connect_timeout=int(settings.ldap_timeout))  # fmt: skip


def _bind(server: Server, settings: Settings, user: str | None, password: str | None) -> Connection:
    conn = Connection(server, user=user, password=password, raise_exceptions=False,
                      receive_timeout=int(settings.ldap_timeout), read_only=True)  # fmt: skip
    try:
        conn.open()
        starttls = settings.ldap_starttls and not (settings.ldap_url or "").startswith("ldaps://")
        if starttls and not conn.start_tls():
            raise LdapUnavailable(f"StartTLS refused: {conn.result}")
        conn.bind()
    except LDAPException as exc:
        raise LdapUnavailable(f"{settings.ldap_url}: {exc}") from None
    return conn


def authenticate(settings: Settings, username: str, password: str) -> LdapPerson | None:
    """The person if the directory accepts the password; None if it does not (or no such
    person, or an empty password: that would be an unauthenticated bind, RFC 4513 5.1.2)."""
    username = username.strip()
    if not username or not password or len(username) > 256:
        return None
    server = _server(settings)
    service = _bind(server, settings, settings.ldap_bind_dn, settings.ldap_bind_password)
    try:
        if settings.ldap_bind_dn and not service.bound:
            raise LdapUnavailable(f"the service account's bind failed: {service.result}")
        wanted = settings.ldap_user_filter.format(username=escape_filter_chars(username))
        attributes = [settings.ldap_username_attribute, "memberOf"]
        service.search(settings.ldap_user_base or "", wanted, SUBTREE, attributes=attributes,
                       size_limit=2)  # fmt: skip
        if len(service.entries) != 1:
            return None
        entry = service.entries[0]
        dn = entry.entry_dn
        attrs = entry.entry_attributes_as_dict
        groups = [str(g) for g in attrs.get("memberOf", [])]
        names = attrs.get(settings.ldap_username_attribute) or [username]
        own = _bind(server, settings, dn, password)
        try:
            if not own.bound:
                return None
        finally:
            own.unbind()
        if settings.ldap_group_base:
            service.search(settings.ldap_group_base,
                           settings.ldap_group_filter.format(dn=escape_filter_chars(dn)),
                           SUBTREE, attributes=[])  # fmt: skip
            groups += [e.entry_dn for e in service.entries]
        return LdapPerson(dn, str(names[0]), groups)
    except LDAPException as exc:
        raise LdapUnavailable(f"{settings.ldap_url}: {exc}") from None
    finally:
        service.unbind()
