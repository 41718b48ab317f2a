"""Known vulnerabilities: the software rows' source package and version, the hosts' release
codename and Ubuntu Pro state; the imported feeds (Debian/Ubuntu advisories, MSRC's fixing
updates and their supersedence, CISA KEV, EPSS) and each host's matched vulnerabilities.

Revision ID: 0016_vulns
Revises: 0015_audit_sso
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.models import UTCDateTime

revision = "0016_vulns"
down_revision = "0015_audit_sso"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("software") as batch:
        batch.add_column(sa.Column("source", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("source_version", sa.String(length=256), nullable=True))
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("os_codename", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("ubuntu_pro", sa.Boolean(), nullable=True))
    op.create_table(
        "vuln_feeds",
        sa.Column("feed", sa.String(length=16), primary_key=True),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("feed_date", UTCDateTime(), nullable=True),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
    )
    op.create_table(
        "vuln_package_advisories",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("feed", sa.String(length=16), nullable=False),
        sa.Column("release", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=256), nullable=False),
        sa.Column("cve", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fixed_version", sa.String(length=256), nullable=True),
        sa.Column("pro", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=True),
    )
    op.create_index(
        "ix_vuln_package_advisories_feed", "vuln_package_advisories", ["feed"], unique=False
    )
    op.create_index(
        "ix_vuln_package_advisories_release_package",
        "vuln_package_advisories",
        ["release", "package"],
        unique=False,
    )
    op.create_table(
        "vuln_windows_fixes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product", sa.String(length=256), nullable=False),
        sa.Column("cve", sa.String(length=64), nullable=False),
        sa.Column("kb", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=True),
        sa.Column("impact", sa.String(length=128), nullable=True),
        sa.Column("posted", sa.Date(), nullable=True),
    )
    op.create_index("ix_vuln_windows_fixes_product", "vuln_windows_fixes", ["product"])
    op.create_table(
        "vuln_supersedence",
        sa.Column("kb", sa.String(length=16), primary_key=True),
        sa.Column("superseded", sa.String(length=16), primary_key=True),
    )
    op.create_table(
        "vuln_kev",
        sa.Column("cve", sa.String(length=64), primary_key=True),
        sa.Column("vendor", sa.String(length=256), nullable=True),
        sa.Column("product", sa.String(length=256), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("date_added", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("ransomware", sa.String(length=16), nullable=True),
    )
    op.create_table(
        "vuln_epss",
        sa.Column("cve", sa.String(length=64), primary_key=True),
        sa.Column("epss", sa.Float(), nullable=False),
        sa.Column("percentile", sa.Float(), nullable=False),
    )
    op.create_table(
        "vuln_package_results",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("release", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=256), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=False),
        sa.Column("pro", sa.Boolean(), nullable=False),
        sa.Column("cve", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fixed", sa.String(length=256), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=True),
    )
    op.create_index(
        "ix_vuln_package_results_key",
        "vuln_package_results",
        ["release", "package", "version", "pro"],
    )
    op.create_table(
        "host_vulns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("package", sa.String(length=256), nullable=False),
        sa.Column("installed", sa.String(length=256), nullable=True),
        sa.Column("fixed", sa.String(length=256), nullable=True),
        sa.Column("cve", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=True),
    )
    op.create_index("ix_host_vulns_host_id", "host_vulns", ["host_id"])
    op.create_index("ix_host_vulns_cve", "host_vulns", ["cve"])
    op.create_table(
        "vuln_host_state",
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), primary_key=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("matched_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "vuln_host_packages",
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), primary_key=True),
        sa.Column("release", sa.String(length=64), primary_key=True),
        sa.Column("pro", sa.Boolean(), primary_key=True),
        sa.Column("package", sa.String(length=256), primary_key=True),
        sa.Column("version", sa.String(length=256), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_vuln_host_packages_key",
        "vuln_host_packages",
        ["release", "pro", "package", "version", "host_id"],
    )
    op.create_table(
        "vuln_host_levels",
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), primary_key=True),
        sa.Column("severity", sa.String(length=32), primary_key=True),
        sa.Column("kev", sa.Boolean(), primary_key=True),
    )


def downgrade() -> None:
    for table in (
        "vuln_host_levels",
        "vuln_host_packages",
        "vuln_host_state",
        "host_vulns",
        "vuln_package_results",
        "vuln_epss",
        "vuln_kev",
        "vuln_supersedence",
        "vuln_windows_fixes",
        "vuln_package_advisories",
        "vuln_feeds",
    ):
        op.drop_table(table)
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("ubuntu_pro")
        batch.drop_column("os_codename")
    with op.batch_alter_table("software") as batch:
        batch.drop_column("source_version")
        batch.drop_column("source")
