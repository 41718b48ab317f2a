"""The collector's settings: environment (prefix ``INVENTAR_``), then command-line overrides."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.limits import Limits
from collector.security import metrics_open

DEFAULT_DATABASE_URL = "sqlite:///" + str(Path("var") / "inventar.db")
# The policy packs shipped beside the code (a source checkout or an installed wheel).
SHIPPED_POLICIES = Path(__file__).resolve().parents[1] / "policies"
DEFAULT_PORT = 8740
MAX_DECODE_WORKERS = 64


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTAR_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Alembic upgrade at start; None = only for SQLite (the embedded default).
    auto_migrate: bool | None = None
    # Request limits. A full report of a developer PC is ~1 MB of JSON, ~100 kB gzip'd.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_decompressed_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=16, ge=4)
    # Processes that decode and validate reports beside the event loop (collector/decode_pool.py);
    # None = one per core beyond the first, at most 4; 0 = decode in the serving process.
    decode_workers: int | None = Field(default=None, ge=0, le=MAX_DECODE_WORKERS)
    # Bearer token for the whole fleet's /metrics, given as is or in a file (a container's
    # secret, systemd's LoadCredential). Organization-scoped metrics tokens are API tokens of
    # role `metrics` (`token create --role metrics --org ORG`).
    metrics_token: str | None = None
    metrics_token_file: Path | None = None
    # Basic auth for /metrics instead of or beside the token: "user:password" or
    # "user:sha256:<hex SHA-256 of the password>" (collector/security.py).
    metrics_basic_auth: str | None = None
    # /metrics without credentials on any address, deliberately. Without it and without
    # credentials, /metrics is open on a loopback-only collector only, and `serve` refuses
    # another address (collector/security.py metrics_open()).
    metrics_public: bool = False
    # Seconds the computed inventory metrics are reused (0 = computed for every scrape).
    metrics_cache_seconds: float = Field(default=0.0, ge=0)
    # Per-host series (inventar_host_*) only while the fleet has at most this many hosts
    # (unset: always): a Land's Prometheus is not flooded with millions of series; the
    # aggregates by site stay.
    metrics_host_series_limit: int | None = Field(default=None, ge=0)
    db_pool_size: int = 10
    # PostgreSQL's statement_timeout for `serve` (seconds; 0 = none): a request never hangs
    # on a stuck database, it is answered 503 with Retry-After (collector.unavailable).
    db_statement_timeout: float = Field(default=30.0, ge=0)
    # Days the history (the sections reports changed, the change log) is kept; a background
    # job deletes older rows (collector.retention). Report ids are kept 45 days regardless,
    # so that an agent's resend from its outbox (up to 30 days) stays a duplicate.
    history_retention_days: int = Field(default=730, ge=1, le=36500)
    # Seconds the background evaluator waits after the first report it is told of before it
    # evaluates (collector.findings.evaluator.SETTLE_SECONDS): hosts that report meanwhile
    # join the batch, and a host that sends twice is evaluated once.
    findings_settle_seconds: float = Field(default=10.0, ge=0, le=3600)
    # Known vulnerabilities (collector.vulns): hosts whose packages changed are matched again
    # this often; where the collector has internet, these feed URLs are imported every
    # vuln_feed_interval_hours (empty: feeds are imported by `inventar-collector vulns import`).
    vuln_match_interval_seconds: float = Field(default=300.0, ge=5)
    vuln_feed_urls: list[str] = Field(default_factory=list)
    vuln_feed_interval_hours: float = Field(default=24.0, ge=1)
    # The policy packs and their reference data (policies/data); unset = the shipped ones.
    policies: Path | None = None
    # The time zone the web UI shows times in (an IANA name); stored times are UTC.
    ui_timezone: str = "Europe/Berlin"
    # Days the audit log keeps an entry (a background job deletes older ones, hourly).
    audit_retention_days: int = Field(default=365, ge=1, le=36500)
    # The accessibility statement (/barrierefreiheit): who runs this collector and where a
    # barrier is reported (an e-mail address).
    accessibility_operator: str = Field(default="", max_length=200)
    accessibility_contact: str = Field(default="", max_length=200)

    # Single sign-on with OpenID Connect (Keycloak, UCS, Entra ID): authorization code flow
    # with PKCE. Groups from the claim ``oidc_groups_claim`` map to a role and (optionally)
    # an organization; a person in no mapped group is refused.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_client_secret_file: Path | None = None
    oidc_scopes: str = "openid profile email"
    oidc_groups_claim: str = "groups"
    oidc_username_claim: str = "preferred_username"
    oidc_role_map: dict[str, str] = Field(default_factory=dict)
    oidc_org_map: dict[str, str] = Field(default_factory=dict)
    # The name of the login page's button ("Anmelden mit ..."), e.g. the town's portal.
    oidc_label: str = "Single Sign-on"

    # LDAP / Active Directory: bind over LDAPS (ldaps://) or StartTLS (ldap:// with
    # ldap_starttls); plain LDAP is refused. The person is found with a search (service
    # account ldap_bind_dn, or anonymously) and then bound with their own password.
    ldap_url: str | None = None
    ldap_starttls: bool = False
    ldap_ca_file: Path | None = None
    ldap_bind_dn: str | None = None
    ldap_bind_password: str | None = None
    ldap_bind_password_file: Path | None = None
    ldap_user_base: str | None = None
    ldap_user_filter: str = "(uid={username})"
    ldap_username_attribute: str = "uid"
    # Groups: ``memberOf`` of the person (Active Directory, OpenLDAP's memberof overlay), or a
    # search under ldap_group_base for groups whose ``member`` is the person's DN.
    ldap_group_base: str | None = None
    ldap_group_filter: str = "(|(member={dn})(uniqueMember={dn}))"
    ldap_role_map: dict[str, str] = Field(default_factory=dict)
    ldap_org_map: dict[str, str] = Field(default_factory=dict)
    ldap_timeout: int = Field(default=10, ge=1, le=120)

    @model_validator(mode="after")
    def _read_metrics_token_file(self) -> Settings:
        if self.metrics_token_file is not None and not self.metrics_token:
            try:
                token = self.metrics_token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"INVENTAR_METRICS_TOKEN_FILE {self.metrics_token_file}: {exc.strerror or exc}"
                ) from None
            if len(token) < 16:
                raise ValueError(
                    f"INVENTAR_METRICS_TOKEN_FILE {self.metrics_token_file}: the token must "
                    "have at least 16 characters"
                )
            self.metrics_token = token
        return self

    @model_validator(mode="after")
    def _read_sso_secrets(self) -> Settings:
        for name in ("oidc_client_secret", "ldap_bind_password"):
            path = getattr(self, f"{name}_file")
            if path is not None and not getattr(self, name):
                try:
                    setattr(self, name, path.read_text(encoding="utf-8").strip())
                except OSError as exc:
                    raise ValueError(
                        f"INVENTAR_{name.upper()}_FILE {path}: {exc.strerror or exc}"
                    ) from None
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def ldap_enabled(self) -> bool:
        return bool(self.ldap_url and self.ldap_user_base)

    @property
    def metrics_open(self) -> bool:
        """Whether /metrics answers without credentials (collector.security.metrics_open)."""
        return metrics_open(
            self.metrics_public, self.metrics_token, self.metrics_basic_auth, self.host
        )

    @property
    def limits(self) -> Limits:
        """The request limits every way in of a report applies."""
        return Limits(self.max_body_bytes, self.max_decompressed_bytes, self.max_json_depth)

    @property
    def policies_dir(self) -> Path:
        """INVENTAR_POLICIES, else the packs shipped beside the code, else ./policies."""
        if self.policies is not None:
            return self.policies
        return SHIPPED_POLICIES if SHIPPED_POLICIES.is_dir() else Path("policies")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def should_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate


@lru_cache
def get_settings() -> Settings:
    return Settings()
