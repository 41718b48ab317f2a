"""A group commit's batch (collector.group_commit: the batch's hosts read at once, its writes
sent through the driver's executemany) stores exactly what storing the same reports one
at a time does, refusals and duplicates included."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from agent import delta
from agent.schema import SECTIONS, Report, convert, object_data
from collector.db import CoreWrite, Database
from collector.ingest import Lookup, StoreResult, Writes, store_decoded
from collector.models import Host, HostChange, HostHistory, HostSection, ReportReceipt, table_of
from collector.report_decoding import BadReport, DecodedReport
from collector.services import add_site, create_enroll_secret, enroll, revoke_agent
from tests.collector.helpers import database_url, make_report

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
MACHINES = ("m-a", "m-b", "m-c", "m-d")


def _dump(report: dict[str, Any]) -> dict[str, Any]:
    return object_data(convert(report, Report))


def _later(report: dict[str, Any], minutes: int, **sections: Any) -> dict[str, Any]:
    out = _dump({**report, **sections})
    out["report_id"] = str(uuid.uuid4())
    out["collected_at"] = (T0 + dt.timedelta(minutes=minutes)).isoformat()
    return out


def _decoded(report: dict[str, Any]) -> DecodedReport:
    return DecodedReport.of(convert(report, Report))


def _rounds() -> list[list[DecodedReport]]:
    """Batches of reports (one per host each): first reports; then a changed full report, a
    resend, a delta with a package updated and a first report of a new host; then reports of
    a revoked agent's host and a volatile-only change."""
    first = {m: _dump(make_report(m, f"pc-{m}", software=5, collected_at=T0)) for m in MACHINES[:3]}
    a2 = _later(first["m-a"], 15, security={"firewall": False})
    software = [dict(p) for p in first["m-c"]["software"]]
    software[1]["version"] = "9.9"
    c2 = _later(first["m-c"], 15, software=software)
    body, _ = delta.wire_body(c2, SECTIONS, delta.Base(first["m-c"]["report_id"], first["m-c"]))
    d1 = _dump(make_report("m-d", "pc-m-d", software=2, collected_at=T0))
    hardware = json.loads(json.dumps(a2["hardware"]))
    for volume in hardware.get("volumes") or []:
        volume["free_bytes"] = 12345
    a3 = _later(a2, 30, hardware=hardware)
    b3 = _later(first["m-b"], 30, security={"firewall": False})
    return [
        [_decoded(r) for r in first.values()],
        [_decoded(a2), _decoded(first["m-b"]), _decoded(body), _decoded(d1)],
        [_decoded(a3), _decoded(b3)],
    ]


def _setup(db: Database) -> dict[str, tuple[str, int, int]]:
    """Enrolls the machines; m-b's agent is revoked after the first round (see _store)."""
    db.upgrade()
    with db.session() as s:
        site = add_site(s, "GS Nord", "school")
        secret = create_enroll_secret(s, "GS Nord")
        assert site.id is not None
        return {
            m: (enroll(s, secret, m, f"pc-{m}").agent_id, site.id, site.org_id) for m in MACHINES
        }


def _store(db: Database, rounds: list[list[DecodedReport]], *, batched: bool) -> list[Any]:
    agents = _setup(db)
    outcomes: list[Any] = []
    for number, batch in enumerate(rounds):
        if number == 2:
            with db.session() as s:
                revoke_agent(s, agents["m-b"][0])
        with db.engine.connect() as conn:
            tx = CoreWrite(conn)
            writes = Writes() if batched else None
            lookup = (
                Lookup.read(conn, [(agents[d.machine_id][2], agents[d.machine_id][0], d)
                                   for d in batch])
                if batched
                else None
            )  # fmt: skip
            for decoded in batch:
                agent_id, site_id, org_id = agents[decoded.machine_id]
                try:
                    result: StoreResult | BadReport = store_decoded(
                        tx, decoded, site_id=site_id, org_id=org_id, agent_id=agent_id,
                        commit=not batched, writes=writes, lookup=lookup,
                    )  # fmt: skip
                except BadReport as exc:
                    result = exc
                outcomes.append(
                    (result.status, result.message)
                    if isinstance(result, BadReport)
                    else (result.status, result.report_id, result.changed_sections)
                )
            if writes is not None:
                writes.flush(conn)
            tx.commit()
    return outcomes


def _contents(db: Database) -> dict[str, list[Any]]:
    """What the tables hold, without ids and times of storing."""
    skip = {"id", "first_seen", "last_seen", "received_at", "snapshot_at", "agent_id"}
    out: dict[str, list[Any]] = {}
    with db.engine.connect() as conn:
        hosts = table_of(Host)
        machines = dict(conn.execute(sa.select(hosts.c.id, hosts.c.machine_id)).all())
        for model in (Host, HostSection, HostHistory, HostChange, ReportReceipt):
            table = table_of(model)
            rows = []
            for row in conn.execute(sa.select(table)).mappings():
                values = {k: v for k, v in row.items() if k not in skip}
                if "host_id" in values:
                    values["host_id"] = machines[values["host_id"]]
                rows.append(sorted(values.items(), key=lambda kv: kv[0]))
            out[table.name] = sorted(rows, key=repr)
    return out


def test_a_batch_stores_what_one_report_at_a_time_stores(backend: str, tmp_path: Path) -> None:
    rounds = _rounds()
    (tmp_path / "one").mkdir()
    (tmp_path / "batch").mkdir()
    with (
        database_url(backend, tmp_path / "one") as one_url,
        database_url(backend, tmp_path / "batch") as batch_url,
    ):
        one, batch = Database(one_url), Database(batch_url)
        try:
            alone = _store(one, rounds, batched=False)
            together = _store(batch, rounds, batched=True)
            assert together == alone
            statuses = [outcome[0] for outcome in together]
            # the resend is a duplicate, the revoked agent's report refused, the rest stored
            assert statuses == ["stored"] * 3 + ["stored", "duplicate", "stored", "stored"] + [
                "stored", 401,
            ]  # fmt: skip
            assert _contents(batch) == _contents(one)
        finally:
            one.dispose()
            batch.dispose()
