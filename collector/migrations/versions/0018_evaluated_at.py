"""When each host's findings were evaluated (``host_evaluations.evaluated_at``): a report
that changes nothing on a day its host was evaluated counts as evaluated (collector.ingest).

Existing rows get none: each host is evaluated once more, at its next report.

Revision ID: 0018_evaluated_at
Revises: 0017_replicas
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.models import UTCDateTime

revision = "0018_evaluated_at"
down_revision = "0017_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("host_evaluations") as batch:
        batch.add_column(sa.Column("evaluated_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("host_evaluations") as batch:
        batch.drop_column("evaluated_at")
