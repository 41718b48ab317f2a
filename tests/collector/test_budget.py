"""Budget forecast on a hand-computed town (SQLite and PostgreSQL): hosts stored through the
real ingest path from reports validated by agent.schema.Report.

The town, planning years 2026-2030, shipped lifecycle (desktop 5 y / 900 EUR, laptop 4 y /
1200, tablet 4 y / 600, monitor 7 y / 250):

  A  GS Nord, desktop, classroom, serial SN-A, BIOS 2018-05-01, asset purchase 2022-03-01
     (purchase wins: due 2027; by BIOS it would be 2023 -> overdue -> 2026);
     24" monitor, EDID 2019 -> due 2026
  B  GS Nord, laptop, workplace, BIOS 2020-01-10 -> due 2024, overdue -> 2026, again 2030;
     no external monitor -> erg.notebook.external fails -> new monitor 2026 (ergonomics)
  C  Rathaus, desktop, workplace, BIOS 2023-02-01 -> 2028; 19" monitor EDID 2016 -> 2023,
     overdue -> 2026 and too small: one purchase, reason age
  D  Rathaus, desktop, workplace, BIOS 2024-01-01 -> 2029; 19" monitor EDID 2022 -> 2029, too
     small -> ergonomics purchase 2026, which renews it (next 2033: outside)
  E  Kita Sonnenschein, tablet, no BIOS date, no asset -> age unknown, not budgeted
  F  Rathaus, vm -> no budget category
  G  Nachbarstadt (other org), GS Nachbar, desktop, BIOS 2015 -> 2026

  default org: 2026: 250 + 1200 + 250 (GS Nord) + 250 + 250 (Rathaus) = 2200
               2027: 900 (A)  2028: 900 (C)  2029: 900 (D)  2030: 1200 (B)   total 6100
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.budget import build_forecast, load_lifecycle
from collector.budget.assets import parse_assets, store_assets
from collector.budget.forecast import Device, forecast
from collector.budget.lifecycle import LifecycleError, parse_overrides
from collector.budget.render import render
from collector.cli import main as cli_main
from collector.db import Database
from collector.findings.store import all_host_ids, evaluate_hosts
from collector.ingest import store_report
from collector.limits import Limits
from collector.main import create_app
from collector.policy import PolicySet
from collector.report_decoding import parse_report
from collector.services import add_org, add_site, create_api_token, get_org, get_site
from collector.settings import Settings
from tests.policy.helpers import POLICIES_DIR, base_report, make

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
LIMITS = Limits(1 << 20, 4 << 20, 16)
SMALL_MONITOR = {"width_cm": 42.0, "height_cm": 24.0, "diagonal_in": 19.0}
INTERNAL = {
    "connector": "eDP-1",
    "internal": True,
    "diagonal_in": 14.0,
    "native_width_px": 1920,
    "native_height_px": 1080,
    "current_width_px": 1920,
    "current_height_px": 1080,
    "refresh_hz": 60.0,
    "scale": 1.5,
}


def report(name: str, *, chassis: str, role: str, bios: str | None, **changes: Any) -> str:
    overrides: dict[str, Any] = {
        "report_id": str(uuid.uuid4()),
        "host.machine_id": f"machine-{name}",
        "host.hostname": name,
        "host.fqdn": None,
        "host.serial": f"SN-{name}",
        "host.chassis": chassis,
        "host.role": role,
        "host.bios_date": bios,
    }
    overrides.update(changes)
    return json.dumps(make(overrides, base_report()))


def monitor(year: int, **changes: Any) -> dict[str, Any]:
    display = dict(base_report()["displays"][0], year=year)
    display.update(changes)
    return display


def town_reports() -> list[tuple[str, str]]:
    return [
        ("GS Nord", report("A", chassis="desktop", role="classroom", bios="2018-05-01",
                           displays=[monitor(2019)])),
        ("GS Nord", report("B", chassis="laptop", role="workplace", bios="2020-01-10",
                           displays=[INTERNAL])),
        ("Rathaus", report("C", chassis="desktop", role="workplace", bios="2023-02-01",
                           displays=[monitor(2016, **SMALL_MONITOR)])),
        ("Rathaus", report("D", chassis="desktop", role="workplace", bios="2024-01-01",
                           displays=[monitor(2022, **SMALL_MONITOR)])),
        ("Kita Sonnenschein", report("E", chassis="tablet", role="pupil-device", bios=None,
                                     displays=[INTERNAL])),
        ("Rathaus", report("F", chassis="vm", role="server", bios="2014-01-01", displays=[])),
        ("GS Nachbar", report("G", chassis="desktop", role="classroom", bios="2015-06-01",
                              displays=[])),
    ]  # fmt: skip


ASSETS_CSV = (
    "serial;asset_tag;purchase_date;price_eur;cost_center\n"
    "SN-A;INV-0001;01.03.2022;899,00;Schule GS Nord\n"
    "SN-unknown;INV-0999;2021-01-01;100;Lager\n"
)


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return PolicySet.load(POLICIES_DIR)


@pytest.fixture
def town(db_url: str, policies: PolicySet) -> Iterator[Database]:
    db = Database(db_url)
    db.upgrade()
    with db.session() as s:
        add_site(s, "GS Nord", "school")
        add_site(s, "Rathaus", "town-hall")
        add_site(s, "Kita Sonnenschein", "kindergarten")
        add_org(s, "Nachbarstadt")
        add_site(s, "GS Nachbar", "school", "Nachbarstadt")
    for site_name, raw in town_reports():
        with db.write_session() as s:
            parsed = parse_report(raw.encode(), LIMITS)
            result = store_report(s, parsed, site=get_site(s, site_name), source="import")
            assert result.status == "stored"
    # The ergonomics purchases follow the hosts' findings, as after the evaluator ran.
    evaluate_hosts(db, all_host_ids(db), policies, now=NOW)
    yield db
    db.dispose()


def import_assets(db: Database, text: str = ASSETS_CSV, org: str | None = None) -> None:
    rows = parse_assets(text.encode(), today=NOW.date())
    with db.write_session() as s:
        org_id = get_org(s, org).id
        assert org_id is not None
        store_assets(s, org_id, rows)


def run(db: Database, policies: PolicySet, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("from_year", 2026)
    kwargs.setdefault("org_id", default_org_id(db))
    with db.session() as s:
        result = build_forecast(s, load_lifecycle(), now=NOW, **kwargs)
    return result.as_json(devices=True)


def default_org_id(db: Database) -> int:
    with db.session() as s:
        org_id = get_org(s, None).id
    assert org_id is not None
    return org_id


def cost_by_year(data: dict[str, Any]) -> dict[int, float]:
    return {y["year"]: y["cost_eur"] for y in data["totals"]["by_year"]}


def rows_of(data: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {
        (r["year"], r["site"], r["category"], r["reason"], r["count"], r["cost_eur"])
        for r in data["rows"]
    }


EXPECTED_ROWS = {
    (2026, "GS Nord", "laptop", "age", 1, 1200.0),
    (2026, "GS Nord", "monitor", "age", 1, 250.0),
    (2026, "GS Nord", "monitor", "ergonomics", 1, 250.0),
    (2026, "Rathaus", "monitor", "age", 1, 250.0),
    (2026, "Rathaus", "monitor", "ergonomics", 1, 250.0),
    (2027, "GS Nord", "desktop", "age", 1, 900.0),
    (2028, "Rathaus", "desktop", "age", 1, 900.0),
    (2029, "Rathaus", "desktop", "age", 1, 900.0),
    (2030, "GS Nord", "laptop", "age", 1, 1200.0),
}


def test_hand_computed_town(town: Database, policies: PolicySet) -> None:
    import_assets(town)
    data = run(town, policies)
    assert rows_of(data) == EXPECTED_ROWS
    assert cost_by_year(data) == {2026: 2200, 2027: 900, 2028: 900, 2029: 900, 2030: 1200}
    totals = data["totals"]
    assert totals["cost_eur"] == 6100
    assert totals["count"] == 9
    assert totals["unknown_age"] == {"tablet": 1}
    assert totals["not_budgeted"] == {"vm": 1}
    assert totals["by_site_kind"] == {"school": 3800, "town-hall": 2300}
    assert totals["by_reason"]["ergonomics"] == {"count": 2, "cost_eur": 500}
    # Every row says where its ages came from; the other org's desktop G is not here.
    sources = {(r["year"], r["site"], r["category"], r["reason"]): r["age_sources"]
               for r in data["rows"]}  # fmt: skip
    assert sources[(2027, "GS Nord", "desktop", "age")] == {"purchase": 1}
    assert sources[(2026, "GS Nord", "laptop", "age")] == {"bios": 1}
    assert sources[(2026, "Rathaus", "monitor", "age")] == {"edid": 1}
    assert sources[(2026, "GS Nord", "monitor", "ergonomics")] == {}
    assert "GS Nachbar" not in {r["site"] for r in data["rows"]}


def test_age_sources_in_order(town: Database, policies: PolicySet) -> None:
    # Without purchase data the BIOS date of A (2018) makes it overdue: 2026, source bios.
    before = run(town, policies, years=1)
    a = [d for d in before["devices"] if d["hostname"] == "A" and d["category"] == "desktop"]
    assert [(d["year"], d["age_source"], d["start_date"]) for d in a] == [
        (2026, "bios", "2018-05-01")
    ]
    import_assets(town)
    after = run(town, policies)
    a = [d for d in after["devices"] if d["hostname"] == "A" and d["category"] == "desktop"]
    assert [(d["year"], d["age_source"], d["start_date"], d["asset_tag"]) for d in a] == [
        (2027, "purchase", "2022-03-01", "INV-0001")
    ]
    # Monitors: EDID year, unless the register knows the monitor's serial.
    mon = [d for d in after["devices"] if d["hostname"] == "A" and d["category"] == "monitor"]
    assert [(d["year"], d["age_source"]) for d in mon] == [(2026, "edid")]


def test_ergonomics_counted_once(town: Database, policies: PolicySet) -> None:
    import_assets(town)
    devices = run(town, policies)["devices"]
    rathaus_monitors = [
        (d["hostname"], d["year"], d["reason"], d["check"])
        for d in devices
        if d["site"] == "Rathaus" and d["category"] == "monitor"
    ]
    # C: overdue and too small -> one purchase, reason age; D: ergonomics, no 2029 renewal.
    assert sorted(rathaus_monitors) == [
        ("C", 2026, "age", None),
        ("D", 2026, "ergonomics", "erg.display.size"),
    ]
    b = [(d["year"], d["reason"], d["check"]) for d in devices
         if d["hostname"] == "B" and d["category"] == "monitor"]  # fmt: skip
    assert b == [(2026, "ergonomics", "erg.notebook.external")]


def test_what_if_overrides(town: Database, policies: PolicySet) -> None:
    import_assets(town)
    data = run(town, policies, overrides=parse_overrides(["desktop=6", "laptop=5"]))
    # desktops: A 2022+6 = 2028, C 2023+6 = 2029, D 2024+6 = 2030; laptop B: 2025 -> overdue
    # -> 2026, next 2031 (outside): the 2030 laptop (1200 EUR) is saved.
    assert cost_by_year(data) == {2026: 2200, 2027: 0, 2028: 900, 2029: 900, 2030: 900}
    assert data["totals"]["cost_eur"] == 4900
    assert data["parameters"]["lifecycle"]["desktop"]["replace_after_years"] == 6


def test_lifecycle_file_applied(town: Database, policies: PolicySet, tmp_path: Path) -> None:
    file = tmp_path / "lifecycle.yaml"
    file.write_text(
        "categories:\n"
        "  desktop: {replace_after_years: 3, unit_price_eur: 1000}\n"
        "  laptop: {replace_after_years: 4, unit_price_eur: 1500}\n"
        "  tablet: {replace_after_years: 4, unit_price_eur: 500}\n"
        "  monitor: {replace_after_years: 7, unit_price_eur: 300}\n"
    )
    import_assets(town)
    with town.session() as s:
        result = build_forecast(
            s, load_lifecycle(file), from_year=2026, org_id=default_org_id(town), now=NOW
        )
    data = result.as_json()
    # desktops every 3 years: A 2025 -> 2026, 2029; C 2026, 2029; D 2027, 2030.
    # 2026: A, C desktops 2000 + laptop 1500 + 4 monitors 1200 = 4700
    assert cost_by_year(data) == {2026: 4700, 2027: 1000, 2028: 0, 2029: 2000, 2030: 2500}


def test_lifecycle_validation(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    cases = {
        "categories: {desktop: {replacement_years: 0, unit_price_eur: 1}, laptop: {}, "
        "tablet: {}, monitor: {}}": "1..30",
        "categories: {desktop: {replacement_years: 5, unit_price_eur: -1}, laptop: {}, "
        "tablet: {}, monitor: {}}": "0..100000",
        "categories: {printer: {replacement_years: 5, unit_price_eur: 1}}": "unknown category",
        "foo: 1": "unknown key",
        "categories: [": "invalid YAML",
    }
    for text, message in cases.items():
        file.write_text(text)
        with pytest.raises(LifecycleError, match=message) as info:
            load_lifecycle(file)
        assert str(file) in info.value.message
    file.write_text("x" * 70_000)
    with pytest.raises(LifecycleError, match="larger than"):
        load_lifecycle(file)
    for bad, message in (
        (["desktop"], "CATEGORY=YEARS"),
        (["printer=5"], "unknown category"),
        (["desktop=zwei"], "whole number"),
        (["desktop=99"], "1..30"),
        (["desktop=5", "desktop=6"], "twice"),
    ):
        with pytest.raises(LifecycleError, match=message):
            parse_overrides(bad)


def test_asset_csv_validation() -> None:
    today = dt.date(2026, 3, 1)
    bad = (
        "serial,asset_tag,purchase_date,price_eur,cost_center\n"
        "S1,T1,2021-02-30,100,X\n"
        "S2,T2,2021-02-01,-5,X\n"
        ",T3,2021-02-01,5,X\n"
        "S4,T4,2030-01-01,5,X\n"
        "S1,T5,2021-01-01,1.234,X\n"
        "S6,T6,2021-01-01,5\n"
    )
    with pytest.raises(Exception) as info:
        parse_assets(bad.encode(), today=today)
    errors = info.value.errors  # type: ignore[attr-defined]
    assert any(e.startswith("line 2: purchase_date '2021-02-30' is not a date") for e in errors)
    assert any(e.startswith("line 3: price_eur '-5' is negative") for e in errors)
    assert any(e.startswith("line 4: serial is empty") for e in errors)
    assert any(e.startswith("line 5: purchase_date 2030-01-01 is in the future") for e in errors)
    assert any(e.startswith("line 6: price_eur '1.234' is not an amount") for e in errors)
    assert any(e.startswith("line 7: 4 fields") for e in errors)
    with pytest.raises(Exception, match="header must name"):
        parse_assets(b"seriennummer,datum\nA,B\n", today=today)
    with pytest.raises(Exception, match="larger than"):
        parse_assets(b"serial\n" + b"x" * (6 * 1024 * 1024), today=today)
    rows = parse_assets(ASSETS_CSV.encode("utf-8-sig"), today=today)
    assert [(r.serial, r.purchase_date, r.price_eur) for r in rows] == [
        ("SN-A", dt.date(2022, 3, 1), 899.0),
        ("SN-unknown", dt.date(2021, 1, 1), 100.0),
    ]


def test_assets_cli_import_and_update(town: Database, db_url: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    file = tmp_path / "assets.csv"
    file.write_text(ASSETS_CSV)
    assert cli_main(["assets", "import", "--database-url", db_url, str(file)]) == 0
    assert "2 created, 0 updated; 1 serial(s) in the register match a host" in (
        capsys.readouterr().out
    )
    # Re-import updates: a later purchase date moves A's replacement.
    file.write_text("serial,purchase_date\nSN-A,2023-03-01\n")
    assert cli_main(["assets", "import", "--database-url", db_url, str(file)]) == 0
    assert "0 created, 1 updated" in capsys.readouterr().out
    out = tmp_path / "budget.json"
    args = ["budget", "--database-url", db_url, "--from-year", "2026", "--org", "default"]
    assert cli_main([*args, "--format", "json", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert (2028, "GS Nord", "desktop", "age", 1, 900.0) in rows_of(data)
    assert "devices" not in data
    file.write_text("serial,purchase_date\nSN-A,gestern\n")
    assert cli_main(["assets", "import", "--database-url", db_url, str(file)]) == 1
    err = capsys.readouterr().err
    assert "line 2: purchase_date 'gestern' is not a date" in err
    assert "nothing imported" in err
    assert cli_main([*args, "--replace-after", "desktop=x"]) == 2
    assert "whole number" in capsys.readouterr().err


def test_cli_formats(town: Database, db_url: str, tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from openpyxl import load_workbook

    import_assets(town)
    base = ["budget", "--database-url", db_url, "--from-year", "2026", "--org", "default"]
    assert cli_main([*base, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0].keys() >= {"year", "site", "site_kind", "category", "reason", "count",
                              "unit_price_eur", "cost_eur"}  # fmt: skip
    assert sum(float(r["cost_eur"]) for r in rows) == 6100
    assert cli_main([*base]) == 0
    table = capsys.readouterr().out
    assert "total     9 devices         6.100 EUR" in table
    assert "not budgeted, age unknown: tablet 1" in table
    assert cli_main([*base, "--format", "xlsx"]) == 2  # needs --output
    xlsx = tmp_path / "budget.xlsx"
    assert cli_main([*base, "--format", "xlsx", "--output", str(xlsx)]) == 0
    book = load_workbook(xlsx)
    assert book.sheetnames == [
        "Nach Jahr - by year",
        "Nach Standort - by site",
        "Zeilen - rows",
        "Geräte - devices",
        "Parameter",
    ]
    by_year = book["Nach Jahr - by year"]
    assert by_year["F2"].value == "=SUM(B2:E2)"
    assert by_year["A7"].value == "Summe / total"
    assert by_year["F7"].value == "=SUM(F2:F6)"
    assert by_year["E2"].value == 1000  # 2026 monitors: 4 x 250
    assert book["Zeilen - rows"]["H2"].value == "=F2*G2"
    devices = book["Geräte - devices"]
    assert devices.max_row == 1 + 9 + 1  # header, 9 purchases, total
    png = tmp_path / "budget.png"
    assert cli_main([*base, "--format", "png", "--output", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


# --- API --------------------------------------------------------------------------------


@pytest.fixture
def api(town: Database, db_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    import_assets(town)
    with town.session() as s:
        tokens = {
            "planner": create_api_token(s, "planner", None, None),
            "admin": create_api_token(s, "admin", None, None),
            "viewer": create_api_token(s, "viewer", None, None),
            "planner_default": create_api_token(s, "planner", None, "default"),
            "planner_nachbar": create_api_token(s, "planner", None, "Nachbarstadt"),
        }
    app = create_app(Settings(database_url=db_url), town)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, tokens


def get(client: TestClient, token: str, **params: Any) -> Any:
    return client.get(
        "/api/v1/budget",
        params={"from_year": 2026, **params},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_api_planner_sees_aggregates_only(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    r = get(client, tokens["planner_default"])
    assert r.status_code == 200, r.text
    data = r.json()
    assert rows_of(data) == EXPECTED_ROWS
    assert set(data) == {"rows", "totals", "parameters"}
    for needle in ('"A"', "SN-A", "INV-0001", "machine-", "hostname", "serial", "devices"):
        assert needle not in r.text
    xlsx = get(client, tokens["planner_default"], format="xlsx")
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    assert "Geräte - devices" not in load_workbook(io.BytesIO(xlsx.content)).sheetnames
    assert get(client, tokens["viewer"]).status_code == 403
    assert get(client, tokens["admin"]).status_code == 200
    csv_response = get(client, tokens["planner_default"], format="csv")
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert csv_response.text.startswith("year,site,site_kind,category,reason,count")


def test_api_org_scope_and_what_if(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    nachbar = get(client, tokens["planner_nachbar"]).json()
    assert {r["site"] for r in nachbar["rows"]} == {"GS Nachbar"}
    # G: BIOS 2015 -> overdue -> 2026, again 2031 (outside)
    assert cost_by_year(nachbar)[2026] == 900
    assert nachbar["totals"]["cost_eur"] == 900
    assert get(client, tokens["planner_nachbar"], site="Rathaus").status_code == 404
    assert get(client, tokens["planner_default"], site="GS Nachbar").status_code == 404
    everyone = get(client, tokens["planner"]).json()
    assert everyone["totals"]["cost_eur"] == 7000
    rathaus = get(client, tokens["planner_default"], site="Rathaus").json()
    assert {r["site"] for r in rathaus["rows"]} == {"Rathaus"}
    assert rathaus["totals"]["cost_eur"] == 500 + 900 + 900
    what_if = get(client, tokens["planner_default"], replace_after=["desktop=6", "laptop=5"])
    assert what_if.json()["totals"]["cost_eur"] == 4900
    bad = get(client, tokens["planner_default"], replace_after=["desktop=0"])
    assert bad.status_code == 422
    assert "replace_after" in bad.json()["detail"]
    assert get(client, tokens["planner_default"], years=99).status_code == 422


# --- the rules on plain data (no database) ----------------------------------------------


def device(category: str, start: dt.date | None, **kwargs: Any) -> Device:
    return Device(key=f"{category}-{start}", site="S", site_kind="school", category=category,
                  start=start, age_source="bios" if start else None, **kwargs)  # fmt: skip


def test_rules_on_plain_devices() -> None:
    lifecycle = load_lifecycle(POLICIES_DIR / "data" / "lifecycle.yaml")
    result = forecast(
        [
            device("laptop", dt.date(2019, 1, 1)),  # overdue: 2026, 2030
            device("desktop", dt.date(2022, 12, 31)),  # 2027
            device("monitor", dt.date(2010, 1, 1), ergonomics="erg.display.size"),  # age 2026
            device("monitor", None, ergonomics="erg.display.size"),  # ergonomics 2026
            device("tablet", None),  # unknown
        ],
        lifecycle,
        2026,
        5,
    )
    got = sorted((p.year, p.device.category, p.reason) for p in result.purchases)
    assert got == [
        (2026, "laptop", "age"),
        (2026, "monitor", "age"),
        (2026, "monitor", "ergonomics"),
        (2027, "desktop", "age"),
        (2030, "laptop", "age"),
    ]
    assert result.unknown_age == {"tablet": 1}
    assert render(result, "table").decode().startswith("Budget forecast 2026-2030")
