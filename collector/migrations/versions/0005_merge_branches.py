"""Joins the three branches that grew from 0001 in parallel (findings, SSH and discovery,
assets) into one head, so that the next migration has a single parent.

Revision ID: 0005_merge_branches
Revises: 0002_findings, 0003_ssh_discovery, 0004_assets
"""

from __future__ import annotations

revision = "0005_merge_branches"
down_revision = ("0002_findings", "0003_ssh_discovery", "0004_assets")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
