"""Where a host's OS release stands in the OS support data (listed, older or newer than the
data, unlisted) and its product line, as derived facts of the host (issue 21).

The columns start empty; removing the stored facts digest makes the collector recompute every
host's derived facts from its sections at its next start, as after 0007.

Revision ID: 0011_os_support_status
Revises: 0010_device_findings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_os_support_status"
down_revision = "0010_device_findings"
branch_labels = None
depends_on = None

COLUMNS = (
    ("os_support_status", sa.String(length=16)),
    ("os_support_line", sa.String(length=64)),
)


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.execute(sa.text("DELETE FROM policy_state WHERE key = 'facts_digest'"))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
