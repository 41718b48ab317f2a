"""A demo town for the budget forecast (the README's chart): ``python -m collector.budget.demo``.

Builds a throw-away SQLite database with the town hall, four schools and three Kitas, stores
seeded-random reports through the real ingest path, imports purchase data for part of the
devices and writes the forecast (default: ``docs/budget-forecast.png``; ``.xlsx``, ``.csv``
and ``.json`` by the output's suffix).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from collector.budget import build_forecast, load_lifecycle
from collector.budget.assets import parse_assets, store_assets
from collector.budget.render import render
from collector.db import Database
from collector.findings.store import all_host_ids, evaluate_hosts
from collector.ingest import store_report
from collector.limits import Limits
from collector.policy import PolicySet
from collector.policy.cli import default_policies_dir
from collector.report_decoding import parse_report
from collector.services import add_site, get_org, get_site

# site, kind, desktops, laptops, tablets, workplace share
SITES = (
    ("Rathaus", "town-hall", 70, 35, 0, 1.0),
    ("Gymnasium am Markt", "school", 90, 60, 120, 0.1),
    ("Gesamtschule Süd", "school", 70, 40, 90, 0.1),
    ("Grundschule Nord", "school", 25, 10, 60, 0.1),
    ("Grundschule Lindenweg", "school", 20, 10, 45, 0.1),
    ("Kita Sonnenschein", "kindergarten", 2, 3, 6, 1.0),
    ("Kita Regenbogen", "kindergarten", 2, 2, 4, 1.0),
    ("Kita Pusteblume", "kindergarten", 1, 2, 4, 1.0),
)
# Bought in waves (DigitalPakt 2020-2022 at schools), so some years peak.
WAVES = {
    "school": [2016, 2017, 2019, 2020, 2021, 2021, 2022, 2023, 2024],
    "town-hall": [2017, 2018, 2019, 2020, 2021, 2022, 2023, 2024, 2025],
    "kindergarten": [2018, 2019, 2021, 2022, 2024],
}


def _report(
    rng: random.Random, n: int, *, chassis: str, role: str, year: int, site: str
) -> dict[str, Any]:
    bios = dt.date(year, rng.randint(1, 12), rng.randint(1, 28)).isoformat()
    displays: list[dict[str, Any]] = []
    inputs = {"external_keyboard": True, "external_pointing": True}
    if chassis == "desktop":
        size = rng.choice([19.0, 22.0, 24.0, 24.0, 24.0, 27.0])
        displays.append(
            {
                "connector": "DP-1",
                "internal": False,
                "vendor_pnp": "DEL",
                "serial": f"MON{n:05d}",
                "diagonal_in": size,
                "year": max(2012, year + rng.choice([-3, -1, 0, 0])),
            }
        )
    else:
        displays.append({"connector": "eDP-1", "internal": True, "diagonal_in": 14.0})
        if chassis == "laptop" and role == "workplace" and rng.random() < 0.6:
            displays.append(
                {
                    "connector": "DP-2",
                    "internal": False,
                    "vendor_pnp": "LEN",
                    "serial": f"MON{n:05d}",
                    "diagonal_in": 24.0,
                    "year": year,
                }
            )
    return {
        "schema_version": 1,
        "report_id": str(uuid.uuid4()),
        "collected_at": "2026-03-01T08:00:00Z",
        "agent": {"id": None, "version": "0.1.0"},
        "host": {
            "machine_id": f"demo-{n:05d}",
            "hostname": f"{site[:3].lower()}-{n:05d}",
            "serial": f"SN{n:06d}",
            "chassis": chassis,
            "bios_date": bios,
            "role": role,
            "tags": [],
        },
        "displays": displays,
        "inputs": inputs,
        "collection": {"errors": []},
    }


def build(db: Database, seed: int = 7) -> None:
    rng = random.Random(seed)
    limits = Limits(1 << 20, 4 << 20, 16)
    assets = ["serial,asset_tag,purchase_date,price_eur,cost_center"]
    n = 0
    with db.session() as s:
        for name, kind, *_ in SITES:
            add_site(s, name, kind)
    for name, kind, desktops, laptops, tablets, workplace in SITES:
        for chassis, count in (("desktop", desktops), ("laptop", laptops), ("tablet", tablets)):
            for _ in range(count):
                n += 1
                role = (
                    "workplace"
                    if chassis != "tablet" and rng.random() < workplace
                    else ("pupil-device" if chassis == "tablet" else "classroom")
                )
                year = rng.choice(WAVES[kind])
                data = _report(rng, n, chassis=chassis, role=role, year=year, site=name)
                raw = json.dumps(data)
                with db.write_session() as s:
                    store_report(s, parse_report(raw.encode(), limits), site=get_site(s, name))
                if rng.random() < 0.5:  # the register knows half of them
                    bought = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
                    bought = min(bought + dt.timedelta(days=60), dt.date(2026, 2, 1))
                    assets.append(f"SN{n:06d},INV-{n:05d},{bought.isoformat()},,{name}")
    rows = parse_assets("\n".join(assets).encode())
    with db.write_session() as s:
        org_id = get_org(s, None).id
        assert org_id is not None
        store_assets(s, org_id, rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=Path("docs/budget-forecast.png"))
    parser.add_argument("--from-year", type=int, default=2026)
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args(argv)
    fmt = args.output.suffix.lstrip(".") or "png"
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'demo.db'}")
        db.upgrade()
        build(db)
        # The ergonomics purchases follow the hosts' findings.
        evaluate_hosts(db, all_host_ids(db), PolicySet.load(default_policies_dir()))
        with db.session() as s:
            result = build_forecast(
                s,
                load_lifecycle(),
                from_year=args.from_year,
                years=args.years,
                now=dt.datetime(args.from_year, 3, 1, tzinfo=dt.UTC),
            )
        db.dispose()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(render(result, fmt, devices=fmt == "xlsx"))
    totals = result.totals()
    print(f"wrote {args.output}: {totals['count']} purchases, {totals['cost_eur']:,.0f} EUR")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
