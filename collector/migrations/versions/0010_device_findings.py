"""Findings of discovered devices (policies/devices.yaml): an unmanaged device on a site's
network, clear-text services open on any device; waivers may name a device.

Revision ID: 0010_device_findings
Revises: 0009_finding_messages
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.models import UTCDateTime

revision = "0010_device_findings"
down_revision = "0009_finding_messages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("message_de", sa.Text(), nullable=True),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("last_failed", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("waiver_id", sa.Integer(), nullable=True),
        sa.Column("waiver_reason", sa.Text(), nullable=True),
        sa.Column("waiver_until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_device_findings_status", "device_findings", ["status"])
    op.create_index("ix_device_findings_device_check", "device_findings", ["device_id", "check_id"])
    op.create_index(
        "uq_device_findings_current",
        "device_findings",
        ["device_id", "check_id"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    with op.batch_alter_table("waivers") as batch:
        batch.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_waivers_device_id", "devices", ["device_id"], ["id"])
        batch.create_index("ix_waivers_device_id", ["device_id"])


def downgrade() -> None:
    with op.batch_alter_table("waivers") as batch:
        batch.drop_index("ix_waivers_device_id")
        batch.drop_constraint("fk_waivers_device_id", type_="foreignkey")
        batch.drop_column("device_id")
    op.drop_table("device_findings")
