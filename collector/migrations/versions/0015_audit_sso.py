"""The audit log (one row per change or export, never updated: a trigger refuses UPDATE on
SQLite and PostgreSQL), and people from single sign-on and with a second factor: users'
source (local, oidc, ldap), external id, TOTP secret and last used step.

Revision ID: 0015_audit_sso
Revises: 0014_history
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.models import UTCDateTime

revision = "0015_audit_sso"
down_revision = "0014_history"
branch_labels = None
depends_on = None

_POSTGRES_FUNCTION = """
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log rows are never changed';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_org_id", "audit_log", ["org_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log rows are never changed'); END"
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=8), nullable=False, server_default="local")
        )
        batch.add_column(sa.Column("external_id", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
        batch.drop_column("external_id")
        batch.drop_column("source")
    op.execute(
        "DROP TRIGGER IF EXISTS audit_log_no_update"
        + (" ON audit_log" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_is_append_only()")
    op.drop_index("ix_audit_log_org_id", table_name="audit_log")
    op.drop_index("ix_audit_log_action", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
