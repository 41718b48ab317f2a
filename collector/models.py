"""All tables in one place (SQLModel). Names of tables and columns are what migrations create.

Secrets and tokens are stored only as SHA-256 hashes (they are 256-bit random, so a plain
hash is enough; no password hashing needed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import JSON, Field, SQLModel

SITE_KINDS = ("school", "kindergarten", "town-hall", "other")
# People's roles, and ``metrics``: a token that may only read /metrics (Prometheus).
# ``dpo``: the data-protection officer, read-only: what is collected and kept (/privacy) and
# who did what (/audit), no host details.
ROLES = ("admin", "viewer", "planner", "dpo", "metrics")
# The roles a person logging in to the web UI may have (``metrics`` is Prometheus's).
PERSON_ROLES = ("admin", "viewer", "planner", "dpo")
# Where a person's account comes from: a local password, or single sign-on.
USER_SOURCES = ("local", "oidc", "ldap")
DEFAULT_ORG = "default"


def table_of(model: type[SQLModel]) -> sa.Table:
    """A table model's Core table (SQLModel sets ``__table__`` at class creation, untyped)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


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


class ReportId(TypeDecorator[str]):
    """A report id (a UUID, as text in Python): PostgreSQL's uuid, 16 bytes on SQLite (where
    text would take 36, and every received report keeps one for 45 days)."""

    impl = sa.LargeBinary(16)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        return dialect.type_descriptor(sa.LargeBinary(16))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return uuid.UUID(value).bytes

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return str(value)
        return str(uuid.UUID(bytes=bytes(value)))


class EpochTime(TypeDecorator[dt.datetime]):
    """A UTC time for a table with a row per received report: PostgreSQL's timestamptz, on
    SQLite an integer count of 1/``per_second`` seconds since 1970 (4 bytes for seconds, 6
    for milliseconds, where UTCDateTime's text takes 26)."""

    impl = sa.Integer
    cache_ok = True

    def __init__(self, per_second: int = 1) -> None:
        super().__init__()
        self.per_second = per_second

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        return dialect.type_descriptor(sa.BigInteger())

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if dialect.name == "postgresql":
            return value
        return int(value.timestamp() * self.per_second)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC)
        return dt.datetime.fromtimestamp(int(value) / self.per_second, dt.UTC)


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
    """A site's secret that enrolls new machines (collector.services.enroll says the rules)."""

    __tablename__ = "enrollment_secrets"

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    name: str | None = Field(default=None, max_length=256)
    revoked: bool = False
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    max_uses: int | None = None  # None = unlimited
    uses: int = 0
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Re-imaging: may replace an active agent of a machine of its own site (revoking it).
    replace_agents: bool = False


class Agent(SQLModel, table=True):
    __tablename__ = "agents"

    id: str = Field(primary_key=True, max_length=36)
    site_id: int = Field(foreign_key="sites.id", index=True)
    machine_id: str = Field(max_length=256, index=True)
    hostname: str | None = Field(default=None, max_length=256)
    token_hash: str = Field(max_length=64, unique=True)
    revoked: bool = False
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The agent that took this machine over through a --replace-agents secret.
    replaced_by: str | None = Field(default=None, max_length=36)
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
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Updated at most once a minute (collector.api.deps), so reads stay reads.
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Host(SQLModel, table=True):
    """A host's current state: the columns that mirror report fields (collector.sections),
    the derived facts (collector.policy.facts), and its sections in ``host_sections``; the history
    is in ``reports``."""

    __tablename__ = "hosts"
    __table_args__ = (sa.UniqueConstraint("org_id", "machine_id", name="uq_hosts_org_machine"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    machine_id: str = Field(max_length=256)
    agent_id: str | None = Field(default=None, max_length=36)
    # Indexed: the web UI's hosts list sorts by hostname and pages deep into it.
    hostname: str | None = Field(default=None, max_length=256, index=True)
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
    # The Debian/Ubuntu release's codename and Ubuntu Pro (ESM): what vulnerability matching
    # (collector.vulns) selects advisories by.
    os_codename: str | None = Field(default=None, max_length=256)
    ubuntu_pro: bool | None = None
    cpu_model: str | None = Field(default=None, max_length=256)
    memory_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    agent_version: str | None = Field(default=None, max_length=64)
    # Derived facts (collector.policy.facts.HostFacts), stored when their sections change and
    # recomputed when the reference data or the asset register changes.
    bios_date: dt.date | None = None
    device_category: str | None = Field(default=None, max_length=16)
    os_edition_group: str | None = Field(default=None, max_length=32)
    os_support_end: dt.date | None = None
    os_support_release: str | None = Field(default=None, max_length=256)
    os_support_source: str | None = Field(default=None, max_length=1024)
    os_support_estimated: bool | None = None
    # Where the release stands in the OS support data (collector.policy.facts): listed,
    # older-than-data, newer-than-data, unlisted; and its product line.
    os_support_status: str | None = Field(default=None, max_length=16)
    os_support_line: str | None = Field(default=None, max_length=64)
    reboot_required: bool | None = None
    # Start of the device's life: purchase date (asset register) else BIOS date.
    start_date: dt.date | None = None
    start_source: str | None = Field(default=None, max_length=16)
    first_seen: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_collected_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_report_id: str | None = Field(default=None, max_length=36)
    # section name -> sha256 of its canonical JSON; a section whose hash is unchanged is
    # not rewritten.
    section_hashes: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    # section name -> hash of its content without the volatile fields (collector.sections):
    # a section whose stable hash is unchanged writes no history.
    stable_hashes: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    # When the history last kept all of the host's sections (collector.history).
    snapshot_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The hardware identity (serial) a report gave differs from the stored one: a cloned
    # machine id, or a replaced mainboard. Set by ingest, cleared by an admin
    # (`hosts identity-ok`); the finding sec.agent.identity-changed shows it.
    identity_changed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    identity_change: str | None = Field(default=None, max_length=600)


class HostSection(SQLModel, table=True):
    """One section of a host's current state, as the schema dumps it (JSON text), with the
    hash the agent computes of it (agent.delta.section_hash): what a delta report is merged
    with and checked against. ``collection`` holds the last report's collection errors."""

    __tablename__ = "host_sections"

    host_id: int = Field(foreign_key="hosts.id", primary_key=True)
    section: str = Field(max_length=16, primary_key=True)
    data: str = Field(sa_type=sa.Text)
    agent_hash: str = Field(max_length=16)


# On PostgreSQL the history and the change log are partitioned by month of ``received_at``
# (migration 0014_history; collector.retention creates months ahead and drops old ones);
# their primary key there is (id, received_at), as a partitioned table's must include it.
PARTITIONED = ("host_history", "host_changes")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: the rowid


class HostHistory(SQLModel, table=True):
    """A report that changed a host's state (collector.history): the sections it changed, as
    they were after it, and as they were before it (``previous``), zlib-compressed JSON; a
    ``snapshot`` holds every section (a host's first report, or a full inventory that
    differed from the state). Volatile fields alone never make a row."""

    __tablename__ = "host_history"
    __table_args__ = (
        sa.Index("ix_host_history_host", "host_id", "id"),
        sa.Index("ix_host_history_received", "received_at"),
        {"postgresql_partition_by": "RANGE (received_at)"},
    )

    id: int | None = Field(default=None, sa_type=_BIG_ID, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id")
    report_id: str = Field(sa_type=ReportId)
    collected_at: dt.datetime = Field(sa_type=UTCDateTime)
    received_at: dt.datetime = Field(sa_type=UTCDateTime)
    source: str = Field(default="agent", max_length=16)
    snapshot: bool = False
    # the sections whose stable content changed, comma-separated in report order
    sections: str = Field(max_length=256)
    data: bytes = Field(sa_type=sa.LargeBinary)
    previous: bytes | None = Field(default=None, sa_type=sa.LargeBinary)


class HostChange(SQLModel, table=True):
    """One readable change of a host (collector.changes), computed at ingest from the
    section before and after a report: a package added, removed or updated, a display
    attached, a setting flipped. ``item`` names the list entry (package, mount, display),
    ``field`` the field that changed within it or the section."""

    __tablename__ = "host_changes"
    __table_args__ = (
        sa.Index("ix_host_changes_host", "host_id", "id"),
        sa.Index("ix_host_changes_received", "received_at"),
        {"postgresql_partition_by": "RANGE (received_at)"},
    )

    id: int | None = Field(default=None, sa_type=_BIG_ID, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id")
    report_id: str = Field(sa_type=ReportId)
    collected_at: dt.datetime = Field(sa_type=UTCDateTime)
    received_at: dt.datetime = Field(sa_type=UTCDateTime)
    section: str = Field(max_length=16)
    action: str = Field(max_length=8)  # added | removed | changed
    item: str | None = Field(default=None, max_length=512)
    field: str | None = Field(default=None, max_length=128)
    old: str | None = Field(default=None, max_length=1024)
    new: str | None = Field(default=None, max_length=1024)


class ReportReceipt(SQLModel, table=True):
    """A received report, kept 45 days (collector.retention): what makes a resend from the
    agent's outbox (kept up to 30 days) a duplicate, also after its history is gone, and
    the list of a host's recent reports. One row per report, so it is narrow: ids in 16
    bytes and times in seconds on SQLite, clustered by host (no rowid)."""

    __tablename__ = "report_receipts"
    __table_args__ = (
        # PostgreSQL finds old receipts for pruning by time through a BRIN index (a few pages
        # for millions of rows appended in time order); SQLite prunes host by host instead.
        sa.Index(
            "ix_report_receipts_received",
            "received_at",
            postgresql_using="brin",
            info={"dialect": "postgresql"},  # for the migrations' test: Alembic has no ddl_if
        ).ddl_if(dialect="postgresql"),
        {"sqlite_with_rowid": False},
    )

    host_id: int = Field(primary_key=True)
    report_id: str = Field(sa_type=ReportId, primary_key=True)
    received_at: dt.datetime = Field(sa_type=EpochTime)  # seconds: when it is pruned
    collected_at: dt.datetime = Field(sa_type=EpochTime(1000))  # milliseconds: the order
    # agent | ssh | import (collector.history.SOURCES), as a small number
    source: int = Field(default=0, sa_type=sa.SmallInteger)


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
    # Derived (collector.policy.facts): an external monitor of the host, and when its life began
    # (its own purchase date by EDID serial, else the EDID year) and from what.
    external: bool | None = None
    start_date: dt.date | None = None
    start_source: str | None = Field(default=None, max_length=16)


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
    # dpkg's source package and its version: what Debian's and Ubuntu's trackers name.
    source: str | None = Field(default=None, max_length=256)
    source_version: str | None = Field(default=None, max_length=256)


# -- agentless SSH collection and network discovery (collector/ssh, collector/discovery.py) --


class SshTarget(SQLModel, table=True):
    """A host collected over SSH. Credentials are never stored: a key file's path, or the
    name of an environment variable / the path of a 0600 file that holds the password."""

    __tablename__ = "ssh_targets"
    __table_args__ = (sa.UniqueConstraint("host", "port", name="uq_ssh_targets_host_port"),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    host: str = Field(max_length=256)
    port: int = 22
    user: str = Field(max_length=256)
    key_file: str | None = Field(default=None, max_length=4096)
    password_env: str | None = Field(default=None, max_length=256)
    password_file: str | None = Field(default=None, max_length=4096)
    known_hosts: str | None = Field(default=None, max_length=4096)
    role: str | None = Field(default=None, max_length=32)
    # Root through sudo (collector.ssh.sudo): "nopasswd" or "password" (its password from an
    # environment variable or a 0600 file, as the login password); None = no sudo.
    sudo: str | None = Field(default=None, max_length=16)
    sudo_password_env: str | None = Field(default=None, max_length=256)
    sudo_password_file: str | None = Field(default=None, max_length=4096)
    # A jump host, user@host[:port], and its key file (default: the target's credentials).
    jump: str | None = Field(default=None, max_length=512)
    jump_key_file: str | None = Field(default=None, max_length=4096)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    # How the last collection got in: files over SFTP or the exec channel, sudo's state.
    last_access: str | None = Field(default=None, sa_type=sa.Text)
    host_id: int | None = Field(default=None, foreign_key="hosts.id")
    # Shared collection across replicas (collector.ssh.schedule): a target is due at
    # ``next_due_at`` (None: now); the replica collecting it holds it until ``lease_until``,
    # so a crashed replica's target is taken over once that has passed.
    next_due_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    lease_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Device(SQLModel, table=True):
    """A device seen on the network by an agent's discovery (ARP), with or without agent."""

    __tablename__ = "devices"
    __table_args__ = (sa.UniqueConstraint("org_id", "mac", name="uq_devices_org_mac"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    mac: str = Field(max_length=17, index=True)  # lower case, colon separated
    ip: str | None = Field(default=None, max_length=64)
    vendor: str | None = Field(default=None, max_length=256)
    open_ports: list[int] = Field(default_factory=list, sa_type=JSON)
    first_seen: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    seen_by: str | None = Field(default=None, max_length=36)  # the agent that reported it


# --- Findings and waivers (collector/findings/) ------------------------------------------


class FindingLife(SQLModel):
    """What a finding holds besides its subject (a host or a discovered device): its check,
    the last result and the episode's life (collector/findings/store.py)."""

    check_id: str = Field(max_length=128)
    status: str = Field(max_length=16, index=True)
    severity: str = Field(max_length=16)
    category: str = Field(max_length=16)
    message: str = Field(sa_type=sa.Text)  # English
    message_de: str | None = Field(default=None, sa_type=sa.Text)  # German
    first_seen: dt.datetime = Field(sa_type=UTCDateTime)
    last_seen: dt.datetime = Field(sa_type=UTCDateTime)
    # Last evaluation that failed (fail or waived); None = this episode never failed.
    last_failed: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    waiver_id: int | None = None
    waiver_reason: str | None = Field(default=None, sa_type=sa.Text)
    waiver_until: dt.date | None = None


class Finding(FindingLife, table=True):
    """One check on one host over one episode; the life is described in collector/findings/.

    The current finding of a (host, check) is the one with ``resolved_at`` NULL (at most one,
    a partial unique index); resolved rows are the history.
    """

    __tablename__ = "findings"
    __table_args__ = (
        sa.Index(
            "uq_findings_current",
            "host_id",
            "check_id",
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        ),
        sa.Index("ix_findings_host_check", "host_id", "check_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id")


class DeviceFinding(FindingLife, table=True):
    """One device check (policies/devices.yaml) on one discovered device over one episode;
    the same life as a host's :class:`Finding` (collector/findings/devices.py)."""

    __tablename__ = "device_findings"
    __table_args__ = (
        sa.Index(
            "uq_device_findings_current",
            "device_id",
            "check_id",
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        ),
        sa.Index("ix_device_findings_device_check", "device_id", "check_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="devices.id")


class WaiverRecord(SQLModel, table=True):
    """An accepted exception for a check on one host, one discovered device or a whole site,
    up to ``until``."""

    __tablename__ = "waivers"

    id: int | None = Field(default=None, primary_key=True)
    check_id: str = Field(max_length=128)
    host_id: int | None = Field(default=None, foreign_key="hosts.id", index=True)
    device_id: int | None = Field(default=None, foreign_key="devices.id", index=True)
    site_id: int | None = Field(default=None, foreign_key="sites.id", index=True)
    reason: str = Field(sa_type=sa.Text)
    until: dt.date
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SecurityUpdateSighting(SQLModel, table=True):
    """When the collector first saw a security update pending on a host (derived facts)."""

    __tablename__ = "security_update_sightings"

    host_id: int = Field(foreign_key="hosts.id", primary_key=True)
    name: str = Field(max_length=256, primary_key=True)
    first_seen: dt.datetime = Field(sa_type=UTCDateTime)


class PolicyCheckState(SQLModel, table=True):
    """Each check's digest as last evaluated on every host (collector/findings/store.py):
    after a pack change only the checks whose digest differs are evaluated again."""

    __tablename__ = "policy_check_state"

    check_id: str = Field(primary_key=True, max_length=128)
    digest: str = Field(max_length=64)


class PolicyState(SQLModel, table=True):
    """Small key/value state of the findings evaluator (the digest last evaluated with)."""

    __tablename__ = "policy_state"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=256)


class HostEvaluation(SQLModel, table=True):
    """The durable findings queue (collector.findings.queue): a host is due for evaluation
    while ``evaluated_report_id`` differs from its ``hosts.last_report_id``; the evaluator
    that claimed it holds it until ``lease_until`` (a crashed replica's claim expires).
    ``evaluated_at``: when it was evaluated (a report that changes nothing that day counts
    as evaluated, collector.ingest)."""

    __tablename__ = "host_evaluations"

    host_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
        )
    )
    evaluated_report_id: str | None = Field(default=None, max_length=36)
    lease_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    evaluated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class JobRun(SQLModel, table=True):
    """One tick of a scheduled job (collector.jobs): the replica that inserted the row runs
    it; if it dies before ``finished_at``, another takes the tick over after ``lease_until``."""

    __tablename__ = "job_runs"

    job: str = Field(primary_key=True, max_length=64)
    tick: int = Field(primary_key=True, sa_type=sa.BigInteger)
    owner: str = Field(max_length=128)
    attempt: int = 1
    started_at: dt.datetime = Field(sa_type=UTCDateTime)
    lease_until: dt.datetime = Field(sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- Asset register for the budget forecast (collector/budget/) ---------------------------


class Asset(SQLModel, table=True):
    """Purchase data imported from the asset register, linked to hosts (and monitors) by
    serial number within one organization."""

    __tablename__ = "assets"
    __table_args__ = (sa.UniqueConstraint("org_id", "serial", name="uq_assets_org_serial"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    serial: str = Field(max_length=256)
    asset_tag: str | None = Field(default=None, max_length=128)
    purchase_date: dt.date | None = None
    price_eur: float | None = None
    cost_center: str | None = Field(default=None, max_length=128)
    imported_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- People: accounts and web sessions (collector/people.py, collector/web/) --------------


class User(SQLModel, table=True):
    """A person who logs in to the web UI: a role and an organization scope exactly as an API
    token has them (None = every organization). The password is stored as an argon2id hash."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    role: str = Field(max_length=16)
    org_id: int | None = Field(default=None, foreign_key="organizations.id")
    # A local account's argon2id hash; "!" for a single sign-on account (no password here).
    password_hash: str = Field(max_length=256)
    disabled: bool = False
    source: str = Field(default="local", max_length=8)
    # The identity provider's stable id: the OIDC subject (issuer and sub), the LDAP DN.
    external_id: str | None = Field(default=None, max_length=1024)
    # Optional second factor of a local account: a TOTP secret (RFC 6238, base32; it must
    # be readable to verify a code) and the last time step used (a code works once).
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    password_changed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A logged-in browser. The cookie holds a random token; only its SHA-256 is stored (as
    API tokens), so a copy of the database logs nobody in. Several replicas share them."""

    __tablename__ = "web_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Written at most once a minute (the idle timeout's resolution), so reads stay reads.
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per account (``user:NAME``) and per address (``addr:IP``) in the
    database, so that every replica counts the same failures."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    window_start: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- Audit log (collector/audit.py) ---------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """One change a person (or a token, or the command line) made, or one export: written in
    the transaction of the change itself. The application never updates a row (a trigger
    refuses it) and deletes rows only past the retention (INVENTAR_AUDIT_RETENTION_DAYS)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # "user:NAME" (web UI), "token:ID" (API), "cli:OSUSER" (command line), "system".
    actor: str = Field(max_length=200)
    # Where from: the client's address (web UI, API), "cli" (command line).
    address: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=64, index=True)
    target: str | None = Field(default=None, max_length=512)
    # The organization the changed thing belongs to (None: all, or none); org-scoped
    # readers see their organization's entries.
    org_id: int | None = Field(default=None, index=True)
    details: dict[str, object] = Field(default_factory=dict, sa_type=JSON)


# -- known vulnerabilities (collector/vulns): feeds imported offline, results per host --


class VulnFeed(SQLModel, table=True):
    """The last import of one feed: where from, its sha256 and its own date."""

    __tablename__ = "vuln_feeds"

    # debian, ubuntu, msrc, kev, epss
    feed: str = Field(primary_key=True, max_length=16)
    source: str = Field(max_length=2048)
    sha256: str = Field(max_length=64)
    # The date the feed states for itself (None: it states none; the age is then the import's)
    feed_date: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    imported_at: dt.datetime = Field(sa_type=UTCDateTime)
    records: int = 0


class VulnPackageAdvisory(SQLModel, table=True):
    """One CVE of one source package in one Debian/Ubuntu release, as its tracker says:
    ``resolved`` with the fixed version, or ``open`` (no fix yet). Not-affected entries are
    not stored. ``pro``: the range is Ubuntu Pro's (ESM)."""

    __tablename__ = "vuln_package_advisories"
    __table_args__ = (sa.Index("ix_vuln_package_advisories_release_package", "release", "package"),)

    id: int | None = Field(default=None, primary_key=True)
    feed: str = Field(max_length=16, index=True)
    release: str = Field(max_length=64)
    package: str = Field(max_length=256)
    cve: str = Field(max_length=64)
    status: str = Field(max_length=16)
    fixed_version: str | None = Field(default=None, max_length=256)
    pro: bool = False
    severity: str | None = Field(default=None, max_length=32)


class VulnWindowsFix(SQLModel, table=True):
    """MSRC's data (wesng's CSV): a CVE of a Windows product and the update (KB) fixing it."""

    __tablename__ = "vuln_windows_fixes"
    __table_args__ = (sa.Index("ix_vuln_windows_fixes_product", "product"),)

    id: int | None = Field(default=None, primary_key=True)
    product: str = Field(max_length=256)
    cve: str = Field(max_length=64)
    kb: str = Field(max_length=16)
    severity: str | None = Field(default=None, max_length=32)
    impact: str | None = Field(default=None, max_length=128)
    posted: dt.date | None = None


class VulnSupersedence(SQLModel, table=True):
    """Update ``kb`` replaces update ``superseded`` (cumulative updates replace the previous)."""

    __tablename__ = "vuln_supersedence"

    kb: str = Field(primary_key=True, max_length=16)
    superseded: str = Field(primary_key=True, max_length=16)


class VulnKev(SQLModel, table=True):
    """CISA's Known Exploited Vulnerabilities catalogue: exploited in the wild."""

    __tablename__ = "vuln_kev"

    cve: str = Field(primary_key=True, max_length=64)
    vendor: str | None = Field(default=None, max_length=256)
    product: str | None = Field(default=None, max_length=256)
    name: str | None = Field(default=None, max_length=512)
    date_added: dt.date | None = None
    due_date: dt.date | None = None
    # "Known" or "Unknown" (CISA's knownRansomwareCampaignUse)
    ransomware: str | None = Field(default=None, max_length=16)


class VulnEpss(SQLModel, table=True):
    """FIRST's EPSS: the probability of exploitation in the next 30 days."""

    __tablename__ = "vuln_epss"

    cve: str = Field(primary_key=True, max_length=64)
    epss: float
    percentile: float


class VulnPackageResult(SQLModel, table=True):
    """The CVEs of one source package version in one release, for hosts with or without
    Ubuntu Pro: computed once per distinct version in the fleet, whatever the number of
    hosts that have it (collector.vulns.matching)."""

    __tablename__ = "vuln_package_results"
    __table_args__ = (
        sa.Index("ix_vuln_package_results_key", "release", "package", "version", "pro"),
    )

    id: int | None = Field(default=None, primary_key=True)
    release: str = Field(max_length=64)
    package: str = Field(max_length=256)
    version: str = Field(max_length=256)
    pro: bool
    cve: str = Field(max_length=64)
    status: str = Field(max_length=16)
    fixed: str | None = Field(default=None, max_length=256)
    severity: str | None = Field(default=None, max_length=32)


class HostVuln(SQLModel, table=True):
    """One CVE of one package version (or Windows product) on one host: stored once per host
    and package version, rewritten when the host's packages or a feed change."""

    __tablename__ = "host_vulns"
    __table_args__ = (
        sa.Index("ix_host_vulns_host_id", "host_id"),
        sa.Index("ix_host_vulns_cve", "cve"),
    )

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id")
    # deb (Debian/Ubuntu source package), windows (the OS by its installed updates)
    kind: str = Field(max_length=16)
    package: str = Field(max_length=256)
    installed: str | None = Field(default=None, max_length=256)
    # the fixed version, or the KB of the update that fixes it; None = no fix yet
    fixed: str | None = Field(default=None, max_length=256)
    cve: str = Field(max_length=64)
    # fix (an update fixes it), no-fix (open: no fix yet), pro (fix through Ubuntu Pro only)
    status: str = Field(max_length=16)
    severity: str | None = Field(default=None, max_length=32)


class VulnHostPackage(SQLModel, table=True):
    """A Debian/Ubuntu source package version of a host that has verdicts (as of the host's
    last match): the fleet page counts hosts per package version here, then joins the few
    thousand versions with their verdicts, instead of joining every host's packages."""

    __tablename__ = "vuln_host_packages"
    __table_args__ = (
        sa.Index("ix_vuln_host_packages_key", "release", "pro", "package", "version", "host_id"),
        # The primary key is the table on SQLite: a match appends its hosts' rows in order.
        {"sqlite_with_rowid": False},
    )

    host_id: int = Field(primary_key=True, foreign_key="hosts.id")
    release: str = Field(primary_key=True, max_length=64)
    pro: bool = Field(primary_key=True)
    package: str = Field(primary_key=True, max_length=256)
    version: str = Field(primary_key=True, max_length=256)


class VulnHostLevel(SQLModel, table=True):
    """The severities a host's vulnerabilities have, each with or without one in CISA's KEV:
    written when the host is matched and for all hosts after an import, so that the metric
    ``inventar_vulnerable_hosts`` is one small GROUP BY at scrape time."""

    __tablename__ = "vuln_host_levels"

    host_id: int = Field(primary_key=True, foreign_key="hosts.id")
    # low, medium, high, critical, unknown
    severity: str = Field(primary_key=True, max_length=32)
    kev: bool = Field(primary_key=True)


class VulnHostState(SQLModel, table=True):
    """What a host was last matched with: a digest of its inputs (packages, release, Pro,
    installed updates) and of the feeds. A host whose digest is unchanged is not re-matched."""

    __tablename__ = "vuln_host_state"

    host_id: int = Field(primary_key=True, foreign_key="hosts.id")
    digest: str = Field(max_length=64)
    matched_at: dt.datetime = Field(sa_type=UTCDateTime)
