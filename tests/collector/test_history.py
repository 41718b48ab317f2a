"""The history as changes (collector.history), on SQLite and PostgreSQL: what a report writes
(nothing for volatile fields alone), the readable change log, past states rebuilt, and
retention that deletes exactly what is older than the setting and nothing a resend needs."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import sqlalchemy as sa

from agent import delta
from agent.schema import SECTIONS, Report, convert, object_data
from collector import partitions
from collector.db import Database
from collector.models import HostChange, HostHistory, ReportReceipt, table_of, utcnow
from collector.retention import prune
from collector.sections import stable
from tests.collector.conftest import Env
from tests.collector.helpers import make_report

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def dump(report: dict[str, Any]) -> dict[str, Any]:
    """A report as the agent holds it: the schema's JSON dump."""
    return object_data(convert(report, Report))


def count(db: Database, model: Any, **where: Any) -> int:
    table = table_of(model)
    query = sa.select(sa.func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with db.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def later(report: dict[str, Any], minutes: int, **sections: Any) -> dict[str, Any]:
    """The agent's next report: a new id, collected ``minutes`` after ``report``."""
    out = dump({**report, **sections})
    out["report_id"] = str(uuid.uuid4())
    collected = dt.datetime.fromisoformat(report["collected_at"]) + dt.timedelta(minutes=minutes)
    out["collected_at"] = collected.isoformat()
    return out


def send_delta(env: Env, token: str, base: dict[str, Any], new: dict[str, Any]) -> Any:
    """Sends ``new`` as the agent would after ``base`` (``new`` becomes the schema's dump)."""
    new.update(dump(new))
    body, _ = delta.wire_body(new, SECTIONS, delta.Base(base["report_id"], base))
    return env.post(token, body)


def changes(env: Env, host_id: int) -> list[dict[str, Any]]:
    page = env.client.get(f"/api/v1/hosts/{host_id}/changes", headers=env.auth(env.viewer))
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


def state_after(env: Env, host_id: int, report_id: str) -> dict[str, Any]:
    r = env.client.get(f"/api/v1/hosts/{host_id}/reports/{report_id}", headers=env.auth(env.viewer))
    assert r.status_code == 200, r.text
    return dict(r.json()["report"])


def assert_same_state(rebuilt: dict[str, Any], sent: dict[str, Any]) -> None:
    """Every section equal, volatile fields aside (they are as last stored with a change)."""
    for section in ("host", "os", "hardware", "displays", "inputs", "network", "wlan",
                    "patches", "security", "software"):  # fmt: skip
        assert stable(section, rebuilt[section]) == stable(section, sent[section]), section


def test_volatile_fields_alone_write_no_history_and_the_change_log_says_what_changed(
    env: Env,
) -> None:
    _, token = env.enroll("m-h")
    first = make_report("m-h", software=3, collected_at=T0)
    first["hardware"]["volumes"] = [{"mount": "/", "size_bytes": 100, "free_bytes": 50}]
    first["security"] = {"firewall": True}
    first = dump(first)
    r = env.post(token, first)
    assert r.status_code == 201, r.text
    host_id = r.json()["host_id"]
    assert count(env.db, HostHistory) == 1  # the first report: a snapshot

    # Free space, WLAN signal and boot time change: the current state follows, no history.
    volatile = later(first, 15)
    volatile["hardware"]["volumes"][0]["free_bytes"] = 7
    volatile["wlan"]["interfaces"][0]["signal_dbm"] = -61
    volatile["os"]["boot_time"] = (T0 + dt.timedelta(minutes=3)).isoformat()
    r = send_delta(env, token, first, volatile)
    assert r.status_code == 201 and "hardware" in r.json()["changed_sections"], r.text
    unchanged = later(volatile, 15)
    assert send_delta(env, token, volatile, unchanged).status_code == 201
    assert count(env.db, HostHistory) == 1 and changes(env, host_id)[0]["kind"] == "inventory.first"
    host = env.client.get(f"/api/v1/hosts/{host_id}", headers=env.auth(env.viewer)).json()
    assert host["report"]["wlan"]["interfaces"][0]["signal_dbm"] == -61

    # A package updated, one added, a monitor attached, the firewall off, a new OS build.
    changed = later(unchanged, 15)
    changed["software"][1]["version"] = "2.0"
    changed["software"].append({"name": "firefox-esr", "version": "128.3", "publisher": "Debian"})
    changed["displays"].append({"connector": "card0-HDMI-A-1", "vendor_pnp": "GSM",
                                "model": "24MK400", "serial": "A1"})  # fmt: skip
    changed["security"] = {"firewall": False}
    changed["os"]["build"] = "12.7"
    r = send_delta(env, token, unchanged, changed)
    assert r.status_code == 201, r.text
    assert count(env.db, HostHistory) == 2
    log = {(c["kind"], c["item"], c["field"], c["old"], c["new"]) for c in changes(env, host_id)}
    assert ("software.updated", "pkg1", "version", "1.1", "2.0") in log
    assert ("software.added", "firefox-esr", None, None, "128.3") in log
    attached = [c for c in log if c[:2] == ("display.attached", "GSM 24MK400 A1")]
    assert len(attached) == 1 and '"connector":"card0-HDMI-A-1"' in (attached[0][4] or "")
    assert ("security.changed", None, "firewall", "true", "false") in log
    assert ("os.changed", None, "build", None, "12.7") in log
    newest = changes(env, host_id)[0]
    assert newest["report_id"] == changed["report_id"]  # newest first
    assert "pkg1 updated from 1.1 to 2.0" in {c["summary"] for c in changes(env, host_id)}

    # The list of reports: all four, the sections the history recorded as changed.
    page = env.client.get(f"/api/v1/hosts/{host_id}/reports", headers=env.auth(env.viewer)).json()
    assert [i["report_id"] for i in page["items"]] == [
        first["report_id"], volatile["report_id"], unchanged["report_id"], changed["report_id"]
    ]  # fmt: skip
    assert [i["changed_sections"] for i in page["items"]][1:] == [
        [], [], ["os", "displays", "security", "software"]
    ]  # fmt: skip
    # Each past state rebuilt equals what was sent.
    for sent in (first, volatile, unchanged, changed):
        assert_same_state(state_after(env, host_id, sent["report_id"]), sent)
    # Volatile values are as last stored with a change: the WLAN section's was the first's.
    rebuilt = state_after(env, host_id, changed["report_id"])
    assert rebuilt["wlan"]["interfaces"][0]["signal_dbm"] is None


def test_software_rows_are_updated_by_difference(env: Env) -> None:
    _, token = env.enroll("m-rows")
    first = dump(make_report("m-rows", software=5, collected_at=T0))
    host_id = env.post(token, first).json()["host_id"]
    table = sa.text("SELECT id, name, version FROM software WHERE host_id = :h ORDER BY id")
    with env.db.engine.connect() as conn:
        before = conn.execute(table, {"h": host_id}).all()
    new = later(first, 15)
    new["software"][2]["version"] = "9.9"
    assert send_delta(env, token, first, new).status_code == 201
    with env.db.engine.connect() as conn:
        after = conn.execute(table, {"h": host_id}).all()
    kept = [row for row in before if row[1] != "pkg2"]
    assert after[:4] == kept  # the same rows, ids included
    assert after[4][1:] == ("pkg2", "9.9") and after[4][0] not in {row[0] for row in kept}


def test_retention_deletes_exactly_what_is_older_and_keeps_what_a_resend_needs(env: Env) -> None:
    _, token = env.enroll("m-old")
    now = utcnow()
    first = dump(make_report("m-old", software=3, collected_at=now - dt.timedelta(days=10)))
    host_id = env.post(token, first).json()["host_id"]
    second = later(first, 60 * 24 * 5)  # collected 5 days ago, a package updated
    second["software"][0]["version"] = "5.0"
    assert send_delta(env, token, first, second).status_code == 201
    third = later(second, 60 * 24 * 4)  # collected a day ago, the firewall off
    third["security"] = {"firewall": False}
    assert send_delta(env, token, second, third).status_code == 201
    # Received when they were collected (the collector's clock is what retention reads).
    with env.db.engine.begin() as conn:
        partitions.create_months(conn, now - dt.timedelta(days=100), now)
        for model in (HostHistory, HostChange):
            table = table_of(model)
            for report in (first, second, third):
                conn.execute(
                    sa.update(table)
                    .where(table.c.report_id == report["report_id"])
                    .values(received_at=dt.datetime.fromisoformat(report["collected_at"]))
                )
        table = table_of(ReportReceipt)
        conn.execute(
            sa.update(table)
            .where(table.c.report_id == first["report_id"])
            .values(received_at=now - dt.timedelta(days=44, hours=23))
        )
    # first inventory, a package updated, the security section reported
    assert count(env.db, HostHistory) == 3 and count(env.db, HostChange) == 3

    done = prune(env.db, retention_days=7, now=now)
    # The first report (10 days) goes with its change; the others (5 days, 1 day) stay.
    assert done.rows == {"host_history": 1, "host_changes": 1, "report_receipts": 0}, done
    assert count(env.db, HostHistory, report_id=first["report_id"]) == 0
    assert count(env.db, HostHistory) == 2 and count(env.db, HostChange) == 2
    # The kept reports still rebuild whole: what the first report set is the second's before.
    assert_same_state(state_after(env, host_id, second["report_id"]), second)
    assert_same_state(state_after(env, host_id, third["report_id"]), third)
    # The first report's history is gone, its receipt (45 days) is not: a resend is one.
    again = env.post(token, first)
    assert again.status_code == 200 and again.json()["status"] == "duplicate", again.text
    assert count(env.db, HostHistory) == 2

    # A day later the first receipt is older than 45 days and goes; the others stay.
    done = prune(env.db, retention_days=7, now=now + dt.timedelta(days=1))
    assert done.rows["report_receipts"] == 1 and count(env.db, ReportReceipt) == 2
    assert count(env.db, HostHistory) == 2  # the second is 6 days old then


def test_retention_drops_whole_months_on_postgresql(env: Env) -> None:
    if env.db.is_sqlite:
        return  # SQLite has no partitions (the test above covers its row deletes)
    now = utcnow()
    with env.db.engine.begin() as conn:
        partitions.create_months(conn, now - dt.timedelta(days=100), now)
        before = set(partitions.partitions(conn))
    old = partitions.partition_name(
        "host_history", partitions.month_start(now - dt.timedelta(days=100))
    )
    this = partitions.partition_name("host_history", partitions.month_start(now))
    assert {old, this} <= before
    done = prune(env.db, retention_days=40, now=now)
    with env.db.engine.connect() as conn:
        after = set(partitions.partitions(conn))
    assert old in done.dropped and old not in after and this in after
    # Only months wholly before the cutoff: the cutoff's own month stays.
    cutoff_month = partitions.partition_name("host_changes", partitions.month_start(
        now - dt.timedelta(days=40)))  # fmt: skip
    assert cutoff_month in after
    ahead = partitions.next_month(partitions.next_month(partitions.month_start(now)))
    assert partitions.partition_name("host_history", ahead) in after


def test_the_change_log_filters_by_section_and_refuses_unknown_ones(env: Env) -> None:
    _, token = env.enroll("m-f")
    first = dump(make_report("m-f", software=2, collected_at=T0))
    host_id = env.post(token, first).json()["host_id"]
    new = later(first, 15)
    new["software"][0]["version"] = "3.0"
    new["os"]["version"] = "13"
    assert send_delta(env, token, first, new).status_code == 201
    url = f"/api/v1/hosts/{host_id}/changes"
    page = env.client.get(f"{url}?section=software&limit=1", headers=env.auth(env.viewer))
    assert page.status_code == 200, page.text
    assert page.json()["total"] == 1 and page.json()["items"][0]["kind"] == "software.updated"
    r = env.client.get(f"{url}?section=softwear", headers=env.auth(env.viewer))
    assert r.status_code == 422 and "softwear" in r.json()["detail"]
    r = env.client.get(f"/api/v1/hosts/{host_id}/reports/not-a-uuid", headers=env.auth(env.viewer))
    assert r.status_code == 422
    r = env.client.get(f"/api/v1/hosts/{host_id}/reports/{uuid.uuid4()}",
                       headers=env.auth(env.viewer))  # fmt: skip
    assert r.status_code == 404


def test_the_retention_job_of_serve_prunes(env: Env) -> None:
    from collector.retention import RetentionJob

    _, token = env.enroll("m-job")
    env.post(token, dump(make_report("m-job", collected_at=T0)))
    with env.db.engine.begin() as conn:
        old = utcnow() - dt.timedelta(days=3)
        partitions.create_months(conn, old, old)
        for model in (HostHistory, HostChange):
            conn.execute(sa.update(table_of(model)).values(received_at=old))
    job = RetentionJob(env.db, retention_days=2, interval=3600, first_delay=0.05).start()
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=10)
        while count(env.db, HostHistory) and dt.datetime.now() < deadline:
            time.sleep(0.05)
    finally:
        job.stop()
    assert count(env.db, HostHistory) == 0 and count(env.db, HostChange) == 0
    assert count(env.db, ReportReceipt) == 1  # received now: kept 45 days


def test_stable_hashes_agree_between_decoding_and_stored_sections() -> None:
    """The decode workers hash the report's models, the migration the stored JSON text: the
    same section must hash alike, or every host would record a change after the upgrade;
    and only the volatile fields are left out."""
    from collector.limits import Limits
    from collector.report_decoding import decode, stable_hash

    report = make_report("m-s", software=3, collected_at=T0)
    report["hardware"]["volumes"] = [{"mount": "/", "size_bytes": 100, "free_bytes": 50}]
    report["wlan"]["interfaces"][0]["signal_dbm"] = -50
    decoded = decode(json.dumps(report).encode(), None, Limits())
    for section in SECTIONS:
        assert decoded.stable_hashes[section] == stable_hash(section, decoded.sections[section])
    report["hardware"]["volumes"][0]["free_bytes"] = 7
    report["wlan"]["interfaces"][0]["signal_dbm"] = -70
    report["hardware"]["cpu_cores"] = 12
    again = decode(json.dumps(report).encode(), None, Limits())
    assert again.stable_hashes["wlan"] == decoded.stable_hashes["wlan"]
    assert again.section_hashes["wlan"] != decoded.section_hashes["wlan"]
    assert again.stable_hashes["hardware"] != decoded.stable_hashes["hardware"]
