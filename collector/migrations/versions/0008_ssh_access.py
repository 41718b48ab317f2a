"""SSH targets reached as an ordinary user with sudo, and through a jump host: how to become
root (sudo mode and where its password is), the jump host and its key, and how the last
collection got in (SFTP or the exec channel, sudo's state).

Revision ID: 0008_ssh_access
Revises: 0007_current_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_ssh_access"
down_revision = "0007_current_state"
branch_labels = None
depends_on = None

COLUMNS = (
    ("sudo", sa.String(length=16)),
    ("sudo_password_env", sa.String(length=256)),
    ("sudo_password_file", sa.String(length=4096)),
    ("jump", sa.String(length=512)),
    ("jump_key_file", sa.String(length=4096)),
    ("last_access", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("ssh_targets") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ssh_targets") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
