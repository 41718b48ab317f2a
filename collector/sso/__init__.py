"""Single sign-on: OpenID Connect (collector.sso.oidc: Keycloak, UCS, Entra ID) and LDAP /
Active Directory (collector.sso.ldap), and how a person's groups become a role and an
organization (collector.sso.mapping). The accounts themselves: collector.people.sign_on."""
