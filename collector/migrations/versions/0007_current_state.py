"""The current state of each host as sections (host_sections) and its derived facts as
columns (hosts, displays): readers stop re-parsing the stored raw reports.

Existing hosts get their sections from their latest stored report (validated with the wire
contract, agent.schema, and dumped as ingest dumps them). The derived facts are left empty
here: the collector computes them from the sections at its next start (the findings
evaluator's maintenance; "facts_digest" in policy_state is absent), with the reference data
of its policy packs.

Revision ID: 0007_current_state
Revises: 0006_credential_lifecycle
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op

revision = "0007_current_state"
down_revision = "0006_credential_lifecycle"
branch_labels = None
depends_on = None

HOST_FACTS = (
    ("agent_version", sa.String(length=64)),
    ("bios_date", sa.Date()),
    ("device_category", sa.String(length=16)),
    ("os_edition_group", sa.String(length=32)),
    ("os_support_end", sa.Date()),
    ("os_support_release", sa.String(length=256)),
    ("os_support_source", sa.String(length=1024)),
    ("os_support_estimated", sa.Boolean()),
    ("reboot_required", sa.Boolean()),
    ("start_date", sa.Date()),
    ("start_source", sa.String(length=16)),
)
DISPLAY_FACTS = (
    ("external", sa.Boolean()),
    ("start_date", sa.Date()),
    ("start_source", sa.String(length=16)),
)
BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("hosts") as table:
        for name, kind in HOST_FACTS:
            table.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table("displays") as table:
        for name, kind in DISPLAY_FACTS:
            table.add_column(sa.Column(name, kind, nullable=True))
    op.create_table(
        "host_sections",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("agent_hash", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.PrimaryKeyConstraint("host_id", "section"),
    )
    _sections_from_latest_reports()


def _sections_from_latest_reports() -> None:
    from agent.delta import section_hash  # noqa: PLC0415  (the wire contract's own hash)
    from agent.schema import SECTIONS, decode_report, encode, to_data  # noqa: PLC0415

    conn = op.get_bind()
    hosts = sa.table("hosts", sa.column("id"), sa.column("last_report_id"),
                     sa.column("agent_version"))  # fmt: skip
    reports = sa.table("reports", sa.column("report_id"), sa.column("raw"))
    sections = sa.table("host_sections", sa.column("host_id"), sa.column("section"),
                        sa.column("data"), sa.column("agent_hash"))  # fmt: skip
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(hosts.c.id, reports.c.raw)
            .join(reports, reports.c.report_id == hosts.c.last_report_id)
            .where(hosts.c.id > last_id)
            .order_by(hosts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        out: list[dict[str, Any]] = []
        for host_id, raw in rows:
            last_id = host_id
            try:
                report = decode_report(raw)
            except msgspec.DecodeError:  # a schema error too
                continue  # a report this contract no longer reads: the next report fills in
            for name in SECTIONS:
                data = encode(getattr(report, name))
                out.append({"host_id": host_id, "section": name, "data": data.decode(),
                            "agent_hash": section_hash(json.loads(data))})  # fmt: skip
            errors = to_data(report.collection)["errors"]
            state = json.dumps({"errors": errors}, separators=(",", ":"), ensure_ascii=False)
            # The agent hashes no collection: it is no section of the wire contract.
            out.append({"host_id": host_id, "section": "collection", "data": state,
                        "agent_hash": ""})  # fmt: skip
            conn.execute(
                sa.update(hosts).where(hosts.c.id == host_id)
                .values(agent_version=report.agent.version)
            )  # fmt: skip
        if out:
            conn.execute(sa.insert(sections), out)


def downgrade() -> None:
    op.drop_table("host_sections")
    with op.batch_alter_table("displays") as table:
        for name, _ in reversed(DISPLAY_FACTS):
            table.drop_column(name)
    with op.batch_alter_table("hosts") as table:
        for name, _ in reversed(HOST_FACTS):
            table.drop_column(name)
