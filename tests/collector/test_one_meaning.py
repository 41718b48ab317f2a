"""One meaning per report: the metric, the budget and the host view count the same devices
from the same start dates, and none of them needs the history (SQLite and PostgreSQL).

The fleet covers every edge the readers used to disagree on (shipped lifecycle: desktop 5 y,
laptop 4 y, tablet 4 y, monitor 7 y; all roles "classroom", so no ergonomics purchases):

  vm       VM with a monitor marked external, EDID 2015: neither is a device that ages
  lap-u    laptop, BIOS 2021-02-01 -> due 2025; display with unknown ``internal`` (EDID 2016):
           on a notebook that may be its own panel -> not counted
  desk-u   desktop, BIOS 2019-06-01 -> 2024; display with unknown ``internal`` (EDID 2017):
           a desktop has no panel of its own -> an external monitor, due 2024
  desk-p   desktop, BIOS 2020-01-01 -> 2025; monitor MON-P, EDID 2012 (would be 2019) but
           bought 2023-05-01 by the asset register -> due 2030, source purchase
  nb-1/2   laptops, BIOS 2022-09-01 -> 2026 and 2023-01-15 -> 2027, both with the shared desk
           monitor DEL U2419H SHARED-1 (EDID 2020 -> 2027): counted once, at nb-1
  no-bios  desktop without BIOS date and with its own panel (all-in-one): age unknown
  reg      desktop SN-REG, BIOS 2014-04-01 (would be 2019) bought 2022-03-01 -> due 2027
  tab      tablet at the Kita (the other organization), BIOS 2023-03-01 -> due 2027
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from collector.budget.assets import parse_assets, store_assets
from collector.findings import evaluator_for
from collector.findings.store import all_host_ids, evaluate_hosts
from collector.models import Finding, HostChange, HostHistory, table_of
from collector.policy import PolicySet
from collector.services import create_enroll_secret, get_org
from tests.collector.conftest import Env
from tests.collector.test_metrics import samples
from tests.policy.helpers import POLICIES_DIR, base_report, make

FIRST_YEAR = 2026
SHORTEST_CYCLE = 4  # laptop and tablet: a device bought in FIRST_YEAR is due again after it
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def display(year: int, internal: bool | None, serial: str | None = None, **more: Any) -> dict:
    out = dict(base_report()["displays"][0], year=year, internal=internal, serial=serial)
    out.update(more)
    return out


SHARED = display(2020, False, "SHARED-1", vendor_pnp="DEL", model="DELL U2419H")
# name -> (chassis, BIOS date, serial, displays)
FLEET: dict[str, tuple[str, str | None, str, list[dict[str, Any]]]] = {
    "vm": ("vm", "2014-01-01", "SN-VM", [display(2015, False, "VM-MON")]),
    "lap-u": ("laptop", "2021-02-01", "SN-LAPU", [display(2016, None)]),
    "desk-u": ("desktop", "2019-06-01", "SN-DESKU", [display(2017, None)]),
    "desk-p": ("desktop", "2020-01-01", "SN-DESKP", [display(2012, False, "MON-P")]),
    "nb-1": ("laptop", "2022-09-01", "SN-NB1", [SHARED]),
    "nb-2": ("laptop", "2023-01-15", "SN-NB2", [SHARED]),
    "no-bios": ("desktop", None, "SN-NOBIOS", [display(2021, True)]),
    "reg": ("desktop", "2014-04-01", "SN-REG", []),
    "tab": ("tablet", "2023-03-01", "SN-TAB", []),
}
ASSETS = "serial;purchase_date\nMON-P;01.05.2023\nSN-REG;2022-03-01\n"

# What each host view must show: (category, start, source) for the host, and per display
# (external, start, source).
EXPECTED_HOSTS = {
    "vm": (None, "2014-01-01", "bios"),
    "lap-u": ("laptop", "2021-02-01", "bios"),
    "desk-u": ("desktop", "2019-06-01", "bios"),
    "desk-p": ("desktop", "2020-01-01", "bios"),
    "nb-1": ("laptop", "2022-09-01", "bios"),
    "nb-2": ("laptop", "2023-01-15", "bios"),
    "no-bios": ("desktop", None, None),
    "reg": ("desktop", "2022-03-01", "purchase"),
    "tab": ("tablet", "2023-03-01", "bios"),
}
EXPECTED_DISPLAYS = {
    "vm": [(False, "2015-01-01", "edid")],
    "lap-u": [(None, "2016-01-01", "edid")],
    "desk-u": [(True, "2017-01-01", "edid")],
    "desk-p": [(True, "2023-05-01", "purchase")],
    "nb-1": [(True, "2020-01-01", "edid")],
    "nb-2": [(True, "2020-01-01", "edid")],
    "no-bios": [(False, "2021-01-01", "edid")],
}
# The devices due by age, worked out by hand from the table above: (site, category, year).
EXPECTED_DUE = Counter(
    {
        ("GS Nord", "laptop", 2025): 1,  # lap-u
        ("GS Nord", "desktop", 2024): 1,  # desk-u
        ("GS Nord", "monitor", 2024): 1,  # desk-u's monitor
        ("GS Nord", "desktop", 2025): 1,  # desk-p
        ("GS Nord", "monitor", 2030): 1,  # desk-p's monitor, bought 2023
        ("GS Nord", "laptop", 2026): 1,  # nb-1
        ("GS Nord", "laptop", 2027): 1,  # nb-2
        ("GS Nord", "monitor", 2027): 1,  # the shared monitor, once
        ("GS Nord", "desktop", 2027): 1,  # reg, bought 2022
        ("Kita Sonnenschein", "tablet", 2027): 1,
    }
)


def report(name: str) -> dict[str, Any]:
    chassis, bios, serial, displays = FLEET[name]
    return make(
        {
            "report_id": str(uuid.uuid4()),
            "host.machine_id": f"machine-{name}",
            "host.hostname": name,
            "host.fqdn": None,
            "host.serial": serial,
            "host.chassis": chassis,
            "host.role": "classroom",
            "host.bios_date": bios,
            "displays": displays,
        },
        base_report(),
    )


@pytest.fixture
def fleet(env: Env) -> dict[str, int]:
    """The fleet through the real ingest path, the asset register imported, findings
    evaluated; host name -> host id."""
    with env.db.session() as s:
        kita_secret = create_enroll_secret(s, "Kita Sonnenschein")
    ids = {}
    for name in FLEET:
        _, token = env.enroll(f"machine-{name}", kita_secret if name == "tab" else None)
        r = env.post(token, report(name))
        assert r.status_code == 201, r.text
        ids[name] = r.json()["host_id"]
    with env.db.write_session() as s:
        org_id = get_org(s, None).id
        assert org_id is not None
        store_assets(s, org_id, parse_assets(ASSETS.encode(), today=NOW.date()))
    evaluator = evaluator_for(env.db)
    assert evaluator is not None and evaluator.drain(), "the evaluator did not finish"
    return ids


def metric_due(env: Env) -> Counter[tuple[str, str, int]]:
    text = env.client.get("/metrics/inventory").text
    out: Counter[tuple[str, str, int]] = Counter()
    for (name, labels), value in samples(text).items():
        if name == "inventar_devices_due_replacement":
            label = dict(labels)
            out[(label["site"], label["category"], int(label["year"]))] += int(value)
    return out


def budget(env: Env) -> dict[str, Any]:
    r = env.client.get(
        "/api/v1/budget", params={"from_year": FIRST_YEAR}, headers=env.auth(env.admin)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_metric_and_budget_count_the_same_devices(env: Env, fleet: dict[str, int]) -> None:
    due = metric_due(env)
    assert due == EXPECTED_DUE
    age_rows: Counter[tuple[str, str, int]] = Counter()
    for row in budget(env)["rows"]:
        assert row["reason"] == "age"  # classroom roles: no ergonomics purchases
        age_rows[(row["site"], row["category"], row["year"])] += row["count"]
    keys = {(site, category) for site, category, _ in due}
    # The first planning year buys everything due by then (overdue included); the years
    # after it, until a device bought in the first year is due again, buy what falls due.
    for site, category in keys:
        overdue = sum(
            n for (s, c, y), n in due.items() if (s, c) == (site, category) and y <= FIRST_YEAR
        )
        assert age_rows[(site, category, FIRST_YEAR)] == overdue, (site, category)
        for year in range(FIRST_YEAR + 1, FIRST_YEAR + SHORTEST_CYCLE):
            assert age_rows[(site, category, year)] == due[(site, category, year)], (
                site,
                category,
                year,
            )
    assert {(s, c) for s, c, _ in age_rows} <= keys


def test_host_view_shows_the_same_start_for_each_device(env: Env, fleet: dict[str, int]) -> None:
    for name, host_id in fleet.items():
        r = env.client.get(f"/api/v1/hosts/{host_id}", headers=env.auth(env.admin))
        assert r.status_code == 200, r.text
        data = r.json()
        life = data["lifecycle"]
        assert (life["category"], life["start_date"], life["start_source"]) == EXPECTED_HOSTS[
            name
        ], name
        shown = [(d["external"], d["start_date"], d["start_source"]) for d in data["displays"]]
        assert shown == EXPECTED_DISPLAYS.get(name, []), name


def snapshot(env: Env, fleet: dict[str, int]) -> dict[str, Any]:
    """What the readers answer: the inventory metrics (without the collector's own process
    and cache figures), the budget, each host view, and the stored findings."""
    metrics = {
        (name, labels): value
        for (name, labels), value in samples(env.client.get("/metrics/inventory").text).items()
        if name.startswith("inventar_") and not name.startswith("inventar_metrics_")
    }
    hosts = {}
    for name, host_id in fleet.items():
        r = env.client.get(f"/api/v1/hosts/{host_id}", headers=env.auth(env.admin))
        assert r.status_code == 200, r.text
        hosts[name] = r.json()
    findings_table = table_of(Finding)
    with env.db.engine.connect() as conn:
        findings = sorted(
            tuple(r)
            for r in conn.execute(
                sa.select(
                    findings_table.c.host_id,
                    findings_table.c.check_id,
                    findings_table.c.status,
                    findings_table.c.severity,
                    findings_table.c.message,
                ).where(findings_table.c.resolved_at.is_(None))
            )
        )
    return {"metrics": metrics, "budget": budget(env), "hosts": hosts, "findings": findings}


def test_readers_do_not_need_the_history(env: Env, fleet: dict[str, int]) -> None:
    policies = PolicySet.load(POLICIES_DIR)
    evaluate_hosts(env.db, all_host_ids(env.db), policies, now=NOW)
    before = snapshot(env, fleet)
    assert before["findings"] and before["metrics"]
    with env.db.write_session() as s:
        s.execute(sa.delete(table_of(HostChange)))
        s.execute(sa.delete(table_of(HostHistory)))
    evaluate_hosts(env.db, all_host_ids(env.db), policies, now=NOW)
    after = snapshot(env, fleet)
    for part in before:
        assert after[part] == before[part], part
