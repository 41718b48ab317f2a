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
    db_pool_size: int = 10
    # Days the history (the sections reports changed, the change log) is kept; a background
    # job deletes older rows (collector.retention). Report ids are kept 45 days regardless,
    # so that an agent's resend from its outbox (up to 30 days) stays a duplicate.
    history_retention_days: int = Field(default=730, ge=1, le=36500)
    # The policy packs and their reference data (policies/data); unset = the shipped ones.
    policies: Path | None = None
    # The time zone the web UI shows times in (an IANA name); stored times are UTC.
    ui_timezone: str = "Europe/Berlin"

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
