"""All tables in one place (SQLModel). Names of tables and columns are what migrations create.

Secrets and tokens are stored only as SHA-256 hashes (they are 256-bit random, so a plain
hash is enough; no password hashing needed).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Field, SQLModel

SITE_KINDS = ("school", "kindergarten", "town-hall", "other")
ROLES = ("admin", "viewer", "planner")
DEFAULT_ORG = "default"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Site(SQLModel, table=True):
    __tablename__ = "sites"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=256, unique=True)
    kind: str = Field(max_length=32)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EnrollmentSecret(SQLModel, table=True):
    __tablename__ = "enrollment_secrets"

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    revoked: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Agent(SQLModel, table=True):
    __tablename__ = "agents"

    id: str = Field(primary_key=True, max_length=36)
    site_id: int = Field(foreign_key="sites.id", index=True)
    machine_id: str = Field(max_length=256, index=True)
    hostname: str | None = Field(default=None, max_length=256)
    token_hash: str = Field(max_length=64, unique=True)
    revoked: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, max_length=256)
    role: str = Field(max_length=16)
    # None = every organization (the provider's admins).
    org_id: int | None = Field(default=None, foreign_key="organizations.id")
    token_hash: str = Field(max_length=64, unique=True)
    revoked: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Host(SQLModel, table=True):
    """A host's current state; the history is in ``reports``."""

    __tablename__ = "hosts"
    __table_args__ = (sa.UniqueConstraint("org_id", "machine_id", name="uq_hosts_org_machine"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    machine_id: str = Field(max_length=256)
    agent_id: str | None = Field(default=None, max_length=36)
    hostname: str | None = Field(default=None, max_length=256)
    fqdn: str | None = Field(default=None, max_length=256)
    serial: str | None = Field(default=None, max_length=256)
    manufacturer: str | None = Field(default=None, max_length=256)
    model: str | None = Field(default=None, max_length=256)
    chassis: str | None = Field(default=None, max_length=32)
    role: str | None = Field(default=None, max_length=32)
    os_family: str | None = Field(default=None, max_length=32, index=True)
    os_name: str | None = Field(default=None, max_length=256)
    os_version: str | None = Field(default=None, max_length=256)
    os_build: str | None = Field(default=None, max_length=256)
    kernel: str | None = Field(default=None, max_length=256)
    arch: str | None = Field(default=None, max_length=256)
    cpu_model: str | None = Field(default=None, max_length=256)
    memory_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    first_seen: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_collected_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_report_id: str | None = Field(default=None, max_length=36)
    # section name -> sha256 of its canonical JSON; a section whose hash is unchanged is
    # not rewritten.
    section_hashes: dict[str, str] = Field(default_factory=dict, sa_type=JSON)


class ReportRecord(SQLModel, table=True):
    """One received report (history), with the raw JSON as received."""

    __tablename__ = "reports"
    __table_args__ = (sa.Index("ix_reports_host_collected", "host_id", "collected_at"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(max_length=36, unique=True)
    host_id: int = Field(foreign_key="hosts.id")
    agent_id: str | None = Field(default=None, max_length=36)
    schema_version: int
    collected_at: dt.datetime = Field(sa_type=UTCDateTime)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    source: str = Field(default="agent", max_length=16)
    size_bytes: int
    changed_sections: list[str] = Field(default_factory=list, sa_type=JSON)
    raw: str = Field(sa_type=sa.Text)


class DisplayRow(SQLModel, table=True):
    __tablename__ = "displays"

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id", index=True)
    connector: str | None = Field(default=None, max_length=256)
    internal: bool | None = None
    vendor_pnp: str | None = Field(default=None, max_length=256)
    model: str | None = Field(default=None, max_length=256)
    serial: str | None = Field(default=None, max_length=256)
    diagonal_in: float | None = None
    native_width_px: int | None = Field(default=None, sa_type=sa.BigInteger)
    native_height_px: int | None = Field(default=None, sa_type=sa.BigInteger)
    year: int | None = None


class InterfaceRow(SQLModel, table=True):
    __tablename__ = "interfaces"

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id", index=True)
    name: str | None = Field(default=None, max_length=256)
    mac: str | None = Field(default=None, max_length=256)
    kind: str | None = Field(default=None, max_length=32)
    up: bool | None = None
    speed_mbps: int | None = Field(default=None, sa_type=sa.BigInteger)
    addresses: list[str] = Field(default_factory=list, sa_type=JSON)


class WlanRow(SQLModel, table=True):
    """The host's WLAN interfaces and what they are connected to."""

    __tablename__ = "wlan"

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id", index=True)
    interface: str | None = Field(default=None, max_length=256)
    connected: bool | None = None
    ssid: str | None = Field(default=None, max_length=256)
    bssid: str | None = Field(default=None, max_length=256)
    security: str | None = Field(default=None, max_length=32)
    cipher: str | None = Field(default=None, max_length=256)
    frequency_mhz: int | None = Field(default=None, sa_type=sa.BigInteger)
    signal_dbm: int | None = None


class PendingPatchRow(SQLModel, table=True):
    __tablename__ = "pending_patches"

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id", index=True)
    name: str | None = Field(default=None, max_length=256)
    installed: str | None = Field(default=None, max_length=256)
    available: str | None = Field(default=None, max_length=256)
    security: bool | None = None


class SoftwareRow(SQLModel, table=True):
    __tablename__ = "software"

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id", index=True)
    name: str | None = Field(default=None, max_length=256, index=True)
    version: str | None = Field(default=None, max_length=256)
    publisher: str | None = Field(default=None, max_length=256)
