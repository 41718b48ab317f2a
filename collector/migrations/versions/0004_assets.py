"""Asset register (purchase data) for the budget forecast.

An independent branch from 0001 (beside 0002_findings and 0003_ssh_discovery); `db upgrade`
applies all heads.

Revision ID: 0004_assets
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.models import UTCDateTime

revision = "0004_assets"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=256), nullable=False),
        sa.Column("asset_tag", sa.String(length=128), nullable=True),
        sa.Column("purchase_date", sa.Date(), nullable=True),
        sa.Column("price_eur", sa.Float(), nullable=True),
        sa.Column("cost_center", sa.String(length=128), nullable=True),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "serial", name="uq_assets_org_serial"),
    )
    op.create_index("ix_assets_org_id", "assets", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_assets_org_id", table_name="assets")
    op.drop_table("assets")
