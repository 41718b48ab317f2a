"""Agentless SSH targets and devices found by network discovery.

An independent branch from 0001 (beside 0002_findings); `db upgrade` applies all heads.

Revision ID: 0003_ssh_discovery
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.models import UTCDateTime

revision = "0003_ssh_discovery"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ssh_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=256), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=256), nullable=False),
        sa.Column("key_file", sa.String(length=4096), nullable=True),
        sa.Column("password_env", sa.String(length=256), nullable=True),
        sa.Column("password_file", sa.String(length=4096), nullable=True),
        sa.Column("known_hosts", sa.String(length=4096), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host", "port", name="uq_ssh_targets_host_port"),
    )
    with op.batch_alter_table("ssh_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ssh_targets_site_id"), ["site_id"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("vendor", sa.String(length=256), nullable=True),
        sa.Column("open_ports", sa.JSON(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("seen_by", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "mac", name="uq_devices_org_mac"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_devices_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_devices_mac"), ["mac"], unique=False)


def downgrade() -> None:
    op.drop_table("devices")
    op.drop_table("ssh_targets")
