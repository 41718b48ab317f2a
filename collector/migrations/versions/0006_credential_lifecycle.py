"""Credentials with a life (expiry, use limits, last use, revocation time), agents replaced
through a --replace-agents secret, and hosts whose hardware identity changed.

Revision ID: 0006_credential_lifecycle
Revises: 0005_merge_branches
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.models import UTCDateTime

revision = "0006_credential_lifecycle"
down_revision = "0005_merge_branches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment_secrets") as table:
        table.add_column(sa.Column("name", sa.String(length=256), nullable=True))
        table.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("max_uses", sa.Integer(), nullable=True))
        table.add_column(sa.Column("uses", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))
        table.add_column(
            sa.Column("replace_agents", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("agents") as table:
        table.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("replaced_by", sa.String(length=36), nullable=True))
    with op.batch_alter_table("api_tokens") as table:
        table.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("hosts") as table:
        table.add_column(sa.Column("identity_changed_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("identity_change", sa.String(length=600), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as table:
        table.drop_column("identity_change")
        table.drop_column("identity_changed_at")
    with op.batch_alter_table("api_tokens") as table:
        for column in ("last_used_at", "expires_at", "revoked_at"):
            table.drop_column(column)
    with op.batch_alter_table("agents") as table:
        table.drop_column("replaced_by")
        table.drop_column("revoked_at")
    with op.batch_alter_table("enrollment_secrets") as table:
        for column in ("replace_agents", "last_used_at", "uses", "max_uses", "expires_at",
                       "revoked_at", "name"):  # fmt: skip
            table.drop_column(column)
