"""Findings: evaluated after ingest (background evaluator), their life, waivers, pack
changes, organization scope; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from collector.findings import evaluate_hosts, evaluator_for
from collector.findings.store import stored_digest
from collector.findings.waivers import add_waiver
from collector.models import WaiverRecord, table_of
from collector.policy import PolicySet
from collector.services import create_api_token, create_enroll_secret
from tests.collector.conftest import Env
from tests.policy.helpers import POLICIES_DIR, base_report

MACHINE = "4f1c0e2a9b7d4e21a3b5c6d7e8f90123"


@pytest.fixture(autouse=True)
def policies_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the shipped packs (a test may edit it), used by the collector."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, target)
    monkeypatch.setenv("INVENTAR_POLICIES", str(target))
    return target


def report(machine_id: str = MACHINE, hostname: str = "rathaus-pc-017", **changes: Any) -> dict:
    """base_report() (passes every check that applies) with dotted-path changes."""
    data = base_report()
    data["report_id"] = str(uuid.uuid4())
    data["collected_at"] = changes.pop("collected_at", dt.datetime.now(dt.UTC).isoformat())
    data["host"]["machine_id"] = machine_id
    data["host"]["hostname"] = hostname
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return data


def settle(env: Env) -> None:
    evaluator = evaluator_for(env.db)
    assert evaluator is not None
    assert evaluator.drain(), "the evaluator did not finish"


def send(env: Env, token: str, data: dict) -> int:
    r = env.post(token, data)
    assert r.status_code == 201, r.text
    settle(env)
    return int(r.json()["host_id"])


def findings(env: Env, token: str | None = None, path: str = "/api/v1/findings", **params: Any):
    r = env.client.get(path, params=params, headers=env.auth(token or env.viewer))
    assert r.status_code == 200, r.text
    return r.json()


def by_check(page: dict) -> dict[str, dict]:
    return {item["check"]: item for item in page["items"]}


def test_ingest_evaluates_findings(env: Env) -> None:
    _, token = env.enroll(MACHINE)
    host_id = send(env, token, report(security__firewall=False, security__secure_boot=None))
    page = findings(env, limit=500)
    items = by_check(page)
    assert page["total"] == len(PolicySet.load(POLICIES_DIR).checks)
    fw = items["sec.firewall"]
    assert fw["status"] == "fail" and fw["severity"] == "high" and fw["category"] == "security"
    assert fw["host_id"] == host_id and fw["hostname"] == "rathaus-pc-017"
    assert fw["site"] == "GS Nord" and fw["resolved_at"] is None
    assert fw["first_seen"] and fw["last_seen"] and fw["waiver_reason"] is None
    # The finding says what is wrong, in both languages; `message` stays the English one.
    assert fw["messages"] == {"de": "Die Host-Firewall ist ausgeschaltet",
                              "en": "The host firewall is off"}  # fmt: skip
    assert fw["message"] == "The host firewall is off"
    assert items["sec.boot.secure-boot"]["status"] == "unknown"
    assert items["sec.antivirus"]["status"] == "not-applicable"  # Windows only
    assert items["sec.screenlock"]["status"] == "pass"
    assert items["erg.display.size"]["status"] == "pass"
    # the host's own view and the filters
    host_page = findings(env, path=f"/api/v1/hosts/{host_id}/findings", status="fail")
    assert "sec.firewall" in by_check(host_page)
    assert {i["status"] for i in host_page["items"]} == {"fail"}
    assert findings(env, check="sec.firewall", severity="low")["total"] == 0
    assert findings(env, category="ergonomics")["total"] == 5
    assert findings(env, site="Kita Sonnenschein")["total"] == 0
    first = findings(env, limit=2, offset=0)
    second = findings(env, limit=2, offset=2)
    assert first["total"] == page["total"] and len(first["items"]) == 2
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})
    assert (
        env.client.get(
            "/api/v1/findings", params={"status": "bad"}, headers=env.auth(env.viewer)
        ).status_code
        == 422
    )


def test_fixed_finding_is_resolved_and_a_new_failure_is_a_new_finding(env: Env) -> None:
    _, token = env.enroll(MACHINE)
    send(env, token, report(security__firewall=False))
    failed = by_check(findings(env))["sec.firewall"]
    # Seen failing again (in a report that changed something: an unchanged one counts as
    # evaluated the same day, collector.ingest): the same finding, seen later.
    send(env, token, report(security__firewall=False, hostname="rathaus-pc-017a"))
    again = by_check(findings(env))["sec.firewall"]
    assert again["id"] == failed["id"] and again["first_seen"] == failed["first_seen"]
    assert again["last_seen"] > failed["last_seen"]
    # The same state once more: nothing to evaluate, the finding stays as it was.
    send(env, token, report(security__firewall=False, hostname="rathaus-pc-017a"))
    assert by_check(findings(env))["sec.firewall"] == again

    send(env, token, report(security__firewall=True))  # fixed
    now = by_check(findings(env))["sec.firewall"]
    assert now["status"] == "pass" and now["resolved_at"] is None and now["id"] != failed["id"]
    history = findings(env, check="sec.firewall", history="true")["items"]
    assert [(i["status"], i["resolved_at"] is not None) for i in history] == [
        ("fail", True),
        ("pass", False),
    ]
    assert history[0]["first_seen"] == failed["first_seen"]

    send(env, token, report(security__firewall=False))  # broken again: a new finding
    history = findings(env, check="sec.firewall", history="true")["items"]
    assert [(i["status"], i["resolved_at"] is not None) for i in history] == [
        ("fail", True),
        ("fail", False),
    ]
    assert history[1]["first_seen"] > history[0]["resolved_at"]
    # unknown does not resolve: the open failure stays open
    send(env, token, report(security__firewall=None))
    current = by_check(findings(env))["sec.firewall"]
    assert current["status"] == "unknown" and current["id"] == history[1]["id"]


def test_waiver_makes_failure_waived_until_it_expires(env: Env) -> None:
    _, token = env.enroll(MACHINE)
    host_id = send(env, token, report(security__firewall=False))
    policies = PolicySet.load(POLICIES_DIR)
    today = dt.datetime.now(dt.UTC).date()
    with env.db.session() as s:
        waiver, hosts = add_waiver(
            s,
            check="sec.firewall",
            reason="Kiosk behind the school firewall",
            until=today,
            policies=policies,
            host="rathaus-pc-017",
        )
    assert hosts == [host_id]
    evaluate_hosts(env.db, hosts, policies)
    fw = by_check(findings(env))["sec.firewall"]
    assert fw["status"] == "waived"
    assert fw["waiver_reason"] == "Kiosk behind the school firewall"
    assert fw["waiver_until"] == today.isoformat()
    assert findings(env, status="waived")["total"] == 1  # shown, not hidden

    # the day after `until`
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    evaluate_hosts(env.db, hosts, policies, now=tomorrow)
    fw = by_check(findings(env))["sec.firewall"]
    assert fw["status"] == "fail" and "waiver expired" in fw["message"]
    assert fw["waiver_reason"] is None

    # the collector's periodic job picks expiry up by itself
    evaluate_hosts(env.db, hosts, policies)
    assert by_check(findings(env))["sec.firewall"]["status"] == "waived"
    with env.db.engine.begin() as conn:
        table = table_of(WaiverRecord)
        yesterday = today - dt.timedelta(days=1)
        conn.execute(sa.update(table).where(table.c.id == waiver.id).values(until=yesterday))
    evaluator = evaluator_for(env.db)
    assert evaluator is not None
    settle(env)  # the thread is idle: the periodic work runs here, not beside it
    evaluator.maintenance()
    assert by_check(findings(env))["sec.firewall"]["status"] == "fail"


def test_site_waiver(env: Env) -> None:
    _, token = env.enroll(MACHINE)
    _, token2 = env.enroll("m-2")
    send(env, token, report(security__firewall=False))
    send(env, token2, report("m-2", "pc-2", security__firewall=False))
    policies = PolicySet.load(POLICIES_DIR)
    until = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    with env.db.session() as s:
        _, hosts = add_waiver(
            s, check="sec.firewall", reason="ESU", until=until, policies=policies, site="GS Nord"
        )
    assert len(hosts) == 2
    evaluate_hosts(env.db, hosts, policies)
    page = findings(env, check="sec.firewall")
    assert [i["status"] for i in page["items"]] == ["waived", "waived"]


def test_pack_change_reevaluates_all_hosts(env: Env, policies_dir: Path) -> None:
    _, token = env.enroll(MACHINE)
    _, token2 = env.enroll("m-2")
    send(env, token, report(security__firewall=True))
    send(env, token2, report("m-2", "pc-2", security__firewall=True))
    assert [i["status"] for i in findings(env, check="sec.firewall")["items"]] == ["pass"] * 2
    before = stored_digest(env.db)
    assert before == PolicySet.load(policies_dir).digest

    pack = policies_dir / "security.yaml"
    text = pack.read_text()
    assert "    condition: security.firewall\n" in text
    pack.write_text(text.replace("    condition: security.firewall\n",
                                 "    condition: '!security.firewall'\n"))  # fmt: skip
    evaluator = evaluator_for(env.db)
    assert evaluator is not None
    settle(env)
    evaluator.maintenance()  # what the thread does every 60 s
    assert [i["status"] for i in findings(env, check="sec.firewall")["items"]] == ["fail"] * 2
    assert stored_digest(env.db) not in (None, before)

    # a broken pack keeps the last good set
    pack.write_text("checks: [oops\n")
    evaluator.maintenance()
    assert [i["status"] for i in findings(env, check="sec.firewall")["items"]] == ["fail"] * 2


def test_security_updates_pending_since_first_sighting(env: Env) -> None:
    _, token = env.enroll(MACHINE)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    pending = {
        "manager": "apt",
        "pending": [{"name": "openssl", "installed": "1", "available": "2", "security": True}],
        "pending_count": 1,
        "pending_security_count": 1,
        "auto_updates": True,
        "reboot_required": False,
    }
    send(env, token, report(patches=pending, collected_at=long_ago.isoformat()))
    item = by_check(findings(env))["sec.updates.security-pending"]
    assert item["status"] == "fail" and "pending for 40 days" in item["message"]
    send(env, token, report(patches=pending))  # still pending: counted from the first sighting
    assert by_check(findings(env))["sec.updates.security-pending"]["status"] == "fail"
    installed = {**pending, "pending": [], "pending_count": 0, "pending_security_count": 0}
    send(env, token, report(patches=installed))
    assert by_check(findings(env))["sec.updates.security-pending"]["status"] == "pass"
    with env.db.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM security_update_sightings")).scalar()
    assert count == 0


def test_findings_are_scoped_to_the_organization(env: Env) -> None:
    with env.db.session() as s:
        kita_secret = create_enroll_secret(s, "Kita Sonnenschein")
        ours = create_api_token(s, "viewer", org="default")
        theirs = create_api_token(s, "viewer", org="Nachbarstadt")
    _, token = env.enroll(MACHINE)
    _, kita_token = env.enroll("m-kita", kita_secret)
    host_id = send(env, token, report(security__firewall=False))
    kita_host = send(env, kita_token, report("m-kita", "kita-pc", security__firewall=False))

    mine = findings(env, ours, limit=500)
    assert {i["host_id"] for i in mine["items"]} == {host_id}
    other = findings(env, theirs, limit=500)
    assert {i["host_id"] for i in other["items"]} == {kita_host}
    assert {i["site"] for i in other["items"]} == {"Kita Sonnenschein"}
    everyone = findings(env, env.admin, check="sec.firewall")
    assert {i["host_id"] for i in everyone["items"]} == {host_id, kita_host}
    assert findings(env, ours, site="Kita Sonnenschein")["total"] == 0

    r = env.client.get(f"/api/v1/hosts/{kita_host}/findings", headers=env.auth(ours))
    assert r.status_code == 404
    assert findings(env, theirs, path=f"/api/v1/hosts/{kita_host}/findings")["total"] > 0
    assert env.client.get("/api/v1/findings", headers=env.auth(env.planner)).status_code == 403
    assert env.client.get("/api/v1/findings").status_code == 401


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from collector.cli import main

    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _statuses(db_url: str, check: str) -> list[str]:
    from collector.db import Database

    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT status FROM findings WHERE check_id = :c AND resolved_at IS NULL "
                    "ORDER BY host_id"
                ),
                {"c": check},
            )
            return [r[0] for r in rows]
    finally:
        db.dispose()


def test_import_and_waiver_cli(
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from collector.db import Database

    Database(db_url).upgrade()
    monkeypatch.setenv("INVENTAR_DATABASE_URL", db_url)
    assert _cli(capsys, "sites", "add", "rathaus", "--kind", "town-hall")[0] == 0
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report(security__firewall=False)))
    rc, out, err = _cli(capsys, "import", str(path))
    assert rc == 0, err
    assert _statuses(db_url, "sec.firewall") == ["fail"]  # evaluated at import

    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    add = ("waiver", "add", "--reason", "Kiosk", "--until", future)
    rc, _, err = _cli(capsys, *add, "--check", "sec.nope", "--host", "rathaus-pc-017")
    assert rc == 1 and "unknown check 'sec.nope'" in err
    rc, _, err = _cli(capsys, *add, "--check", "sec.firewall", "--host", "nobody")
    assert rc == 1 and "unknown host 'nobody'" in err
    rc, _, err = _cli(capsys, *add, "--check", "sec.firewall", "--site", "Nowhere")
    assert rc == 1 and "unknown site" in err
    rc, _, err = _cli(
        capsys, "waiver", "add", "--check", "sec.firewall", "--host", MACHINE,
        "--reason", "x", "--until", "next week",
    )  # fmt: skip
    assert rc == 1 and "YYYY-MM-DD" in err
    rc, _, err = _cli(
        capsys, "waiver", "add", "--check", "sec.firewall", "--host", MACHINE,
        "--reason", "x", "--until", "2020-01-01",
    )  # fmt: skip
    assert rc == 1 and "in the past" in err
    rc, _, err = _cli(
        capsys, "waiver", "add", "--check", "sec.firewall", "--host", MACHINE,
        "--reason", "  ", "--until", future,
    )  # fmt: skip
    assert rc == 1 and "--reason" in err
    with pytest.raises(SystemExit):  # --host and --site together: argparse refuses
        _cli(capsys, *add, "--check", "sec.firewall", "--host", "a", "--site", "b")
    capsys.readouterr()
    assert _statuses(db_url, "sec.firewall") == ["fail"]

    rc, out, err = _cli(capsys, *add, "--check", "sec.firewall", "--host", "RATHAUS-PC-017")
    assert rc == 0, err
    assert out.startswith("waiver 1: sec.firewall")
    assert _statuses(db_url, "sec.firewall") == ["waived"]
    rc, out, _ = _cli(capsys, "waiver", "list")
    assert rc == 0 and "sec.firewall" in out and "host rathaus-pc-017" in out and "Kiosk" in out
    rc, out, _ = _cli(capsys, "waiver", "list", "--json")
    listed = json.loads(out)
    assert listed[0]["until"] == future and listed[0]["site"] == "rathaus"

    rc, _, err = _cli(capsys, "waiver", "remove", "99")
    assert rc == 1 and "unknown waiver 99" in err
    rc, out, err = _cli(capsys, "waiver", "remove", "1")
    assert rc == 0, err
    assert _statuses(db_url, "sec.firewall") == ["fail"]
    assert _cli(capsys, "waiver", "list")[1] == ""


def test_a_pack_change_evaluates_only_the_checks_it_changed(env: Env, policies_dir: Path) -> None:
    from collector.findings.store import reevaluate_if_changed
    from collector.models import Finding, HostSection

    _, token = env.enroll(MACHINE)
    host_id = send(env, token, report(security__firewall=False))
    items = by_check(findings(env, limit=500))
    assert items["sec.firewall"]["status"] == "fail"
    assert items["sec.reboot.pending"]["status"] == "pass"
    # The stored state changes behind the findings' back: the firewall is on now. A check
    # evaluated again would pass; one left alone keeps its finding.
    sections = table_of(HostSection)
    with env.db.write_session() as s:
        where = (sections.c.host_id == host_id, sections.c.section == "security")
        stored = json.loads(s.execute(sa.select(sections.c.data).where(*where)).scalar_one())
        stored["firewall"] = True
        s.execute(sa.update(sections).where(*where).values(data=json.dumps(stored)))
        s.commit()

    # One check edited (its severity), one removed: only those are evaluated again.
    pack = policies_dir / "security.yaml"
    text = pack.read_text()
    text = text.replace("    severity: medium\n    # Macs do not use UEFI Secure Boot",
                        "    severity: low\n    # Macs do not use UEFI Secure Boot")  # fmt: skip
    start = text.index("  - id: sec.reboot.pending")
    end = text.index("  - id: sec.mac.enforcing")
    pack.write_text(text[:start] + text[end:])
    edited = PolicySet.load(policies_dir)
    assert reevaluate_if_changed(env.db, edited) == 1
    items = by_check(findings(env, limit=500))
    assert items["sec.boot.secure-boot"]["severity"] == "low"  # evaluated again
    assert items["sec.firewall"]["status"] == "fail"  # not evaluated again
    assert "sec.reboot.pending" not in items  # removed: its passing finding is gone
    assert reevaluate_if_changed(env.db, edited) is None  # nothing changed since

    # Reference data changed: derived facts may differ, so every check is evaluated again.
    data = policies_dir / "data" / "lifecycle.yaml"
    data.write_text(data.read_text() + "\n# changed\n")
    assert reevaluate_if_changed(env.db, PolicySet.load(policies_dir)) == 1
    assert by_check(findings(env, limit=500))["sec.firewall"]["status"] == "pass"
    table = table_of(Finding)
    with env.db.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(
            table.c.check_id == "sec.firewall", table.c.resolved_at.is_not(None)
        )
        resolved = conn.execute(query).scalar()
    assert resolved == 1
