"""The queries behind the pages of part 2, on SQLite and PostgreSQL: WLAN per site, the
ergonomics purchases by the budget's rules, the Grundschutz verdicts, and the audit log's
append-only table."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlmodel import select

from collector import audit
from collector.budget.lifecycle import load_lifecycle
from collector.db import Database
from collector.findings.store import evaluate_hosts
from collector.models import AuditEntry, Host, table_of
from collector.policy import PolicySet
from collector.queries import compliance
from collector.queries.ergonomics import Buy, failing_workplaces
from collector.queries.hosts import HostFilter, count_hosts
from collector.queries.wlan import insecure_connections, wlan_by_site
from collector.retention import RetentionJob
from collector.settings import SHIPPED_POLICIES
from tests.collector.conftest import Env
from tests.collector.helpers import make_report


def _wlan(connected: tuple[str, str], visible: list[tuple[str, str]]) -> dict[str, object]:
    return {
        "interfaces": [{"name": "wlan0", "connected": True, "ssid": connected[0],
                        "security": connected[1]}],
        "visible": [{"ssid": s, "security": sec, "bssid": f"02:00:00:00:00:{i:02x}"}
                    for i, (s, sec) in enumerate(visible)],
    }  # fmt: skip


def test_wlan_per_site_and_the_hosts_on_open_networks(env: Env) -> None:
    guest, school = ("Kita-Gast", "open"), ("Schule", "wpa2-enterprise")
    reports = {
        "m-open": _wlan(guest, [guest, school, guest]),  # one network seen twice: two BSSIDs
        "m-wep": _wlan(("Altes-Netz", "wep"), [guest]),
        "m-ok": _wlan(school, [school]),
    }
    for machine, wlan in reports.items():
        _agent, token = env.enroll(machine)
        report = make_report(machine, f"pc-{machine}", site="GS Nord", wlan=wlan)
        assert env.post(token, report).status_code == 201
    with env.db.session() as s:
        (site,) = [w for w in wlan_by_site(s, None) if w.site == "GS Nord"]
        assert site.connected == Counter({guest: 1, ("Altes-Netz", "wep"): 1, school: 1})
        assert site.seen == Counter({guest: 2, school: 2})
        insecure = insecure_connections(s, None)
        assert sorted((c.hostname, c.security) for c in insecure) == [
            ("pc-m-open", "open"), ("pc-m-wep", "wep")]  # fmt: skip
        assert count_hosts(s, None, HostFilter(insecure_wlan=True)) == len(insecure)
        nachbar = s.execute(sa.text("SELECT id FROM organizations WHERE name = 'Nachbarstadt'"))
        assert insecure_connections(s, nachbar.scalar_one()) == []


def test_a_desktop_workplace_with_a_small_display_buys_a_monitor(env: Env) -> None:
    display = {"connector": "card0-DP-1", "internal": False, "vendor_pnp": "DEL",
               "model": "P1917S", "serial": "CN-01", "diagonal_in": 19.0, "year": 2024,
               "native_width_px": 1280, "native_height_px": 1024,
               "current_width_px": 1280, "current_height_px": 1024, "refresh_hz": 60.0}  # fmt: skip
    _agent, token = env.enroll("m-desk")
    report = make_report("m-desk", "pc-klein", site="GS Nord", displays=[display])
    report["host"].update(chassis="desktop", role="workplace", bios_date="2024-02-01")
    assert env.post(token, report).status_code == 201
    with env.db.session() as s:
        host_id = s.exec(select(Host.id).where(Host.hostname == "pc-klein")).one()
    assert host_id is not None
    evaluate_hosts(env.db, [host_id], PolicySet.load(SHIPPED_POLICIES))
    lifecycle = load_lifecycle(policies_dir=SHIPPED_POLICIES)
    year = dt.datetime.now(dt.UTC).year
    with env.db.session() as s:
        (place,) = failing_workplaces(s, None, lifecycle, year=year)
    assert place.hostname == "pc-klein" and "erg.display.size" in place.failing
    assert "diagonal 19 inches" in place.failing["erg.display.size"][0]  # its own words
    price = lifecycle.categories["monitor"].unit_price_eur
    assert place.purchases == [Buy("monitor", "ergonomics", "erg.display.size", price)]
    assert place.cost_eur == price


def test_a_hosts_verdict_for_a_requirement_is_its_worst_check() -> None:
    packs = PolicySet.load(SHIPPED_POLICIES)
    reqs = compliance.requirements(packs)
    assert reqs and all(r.id.startswith("BSI ") for r in reqs)
    a1 = next(r for r in reqs if r.id == "BSI SYS.2.1.A1")
    assert set(a1.checks) == {"sec.screenlock", "sec.ssh.root-login"}
    rows = [
        (1, 9, "sec.screenlock", "pass"), (1, 9, "sec.ssh.root-login", "fail"),
        (2, 9, "sec.screenlock", "waived"), (2, 9, "sec.ssh.root-login", "unknown"),
        (3, 9, "sec.screenlock", "unknown"), (3, 9, "sec.ssh.root-login", "not-applicable"),
        (4, 9, "sec.screenlock", "pass"), (4, 9, "sec.ssh.root-login", "not-applicable"),
    ]  # fmt: skip
    verdicts = compliance._verdicts(rows, [a1])
    assert verdicts[(9, "BSI SYS.2.1.A1")] == {1: "fail", 2: "waived", 3: "unknown", 4: "pass"}


def test_the_audit_log_is_append_only_on_both_backends(db_url: str) -> None:
    db = Database(db_url)
    db.upgrade()
    try:
        with db.session() as s:
            audit.record(s, "test.entry", "x", actor=audit.Actor("user:anna", "10.0.0.1"))
            s.commit()
        with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as conn:
            conn.execute(sa.update(table_of(AuditEntry)).values(actor="user:mallory"))
        with db.session() as s:
            assert s.exec(select(AuditEntry.actor)).all() == ["user:anna"]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        assert audit.purge(db, 1, now=later) == 1  # the retention may delete
    finally:
        db.dispose()


def test_the_retention_job_deletes_what_is_older_than_the_retention(tmp_path) -> None:
    import time

    db = Database(f"sqlite:///{tmp_path / 'audit.db'}")
    db.upgrade()
    now = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        for days, action in ((31, "test.old"), (29, "test.young")):
            at = now - dt.timedelta(days=days)
            conn.execute(sa.insert(table_of(AuditEntry)).values(
                at=at, actor="cli:root", action=action, details={}))  # fmt: skip
    job = RetentionJob(db, 730, audit_days=30, interval=3600, first_delay=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with db.session() as s:
                left = set(s.exec(select(AuditEntry.action)))
            if left == {"test.young"}:
                break
            time.sleep(0.05)
    finally:
        job.stop()
        db.dispose()
    assert left == {"test.young"}
