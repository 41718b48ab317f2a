"""Several collectors on one database: ticks of scheduled jobs (``job_runs``), the durable
findings queue (``host_evaluations``: a host is due while its evaluated report differs from
its latest), and SSH targets' ``next_due_at``/``lease_until`` (shared collection).

Existing hosts that have findings count as evaluated with their latest report, so the first
start after the upgrade does not evaluate the whole fleet again.

Revision ID: 0017_replicas
Revises: 0016_vulns
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.models import UTCDateTime

revision = "0017_replicas"
down_revision = "0016_vulns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=64), primary_key=True),
        sa.Column("tick", sa.BigInteger(), primary_key=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "host_evaluations",
        sa.Column(
            "host_id",
            sa.Integer(),
            sa.ForeignKey("hosts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("evaluated_report_id", sa.String(length=36), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
    )
    op.execute(
        "INSERT INTO host_evaluations (host_id, evaluated_report_id) "
        "SELECT h.id, CASE WHEN EXISTS (SELECT 1 FROM findings f WHERE f.host_id = h.id) "
        "THEN h.last_report_id END FROM hosts h"
    )
    with op.batch_alter_table("ssh_targets") as batch:
        batch.add_column(sa.Column("next_due_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))
        batch.create_index("ix_ssh_targets_next_due_at", ["next_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("ssh_targets") as batch:
        batch.drop_index("ix_ssh_targets_next_due_at")
        batch.drop_column("lease_until")
        batch.drop_column("next_due_at")
    op.drop_table("host_evaluations")
    op.drop_table("job_runs")
