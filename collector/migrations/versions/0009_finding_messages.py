"""Findings say what is wrong in German too: ``message`` stays the English text (the API's
``message``), ``message_de`` is the German one (collector.policy.failure). Existing findings
get it at their next evaluation.

Revision ID: 0009_finding_messages
Revises: 0008_ssh_access
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_finding_messages"
down_revision = "0008_ssh_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("message_de", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("message_de")
