"""Each check's digest as last evaluated, so that a pack change evaluates only the checks it
changed (collector/findings/store.py). Empty at first: the next pack change (or start)
evaluates every check once and fills it.

Revision ID: 0013_policy_check_state
Revises: 0012_people
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_policy_check_state"
down_revision = "0012_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_check_state",
        sa.Column("check_id", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("check_id"),
    )


def downgrade() -> None:
    op.drop_table("policy_check_state")
