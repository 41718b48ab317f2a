"""A demo fleet for the web UI's tests: two organizations, four sites (town hall, school,
Kita; a school of the neighbouring town), hosts from real reports — the composite Windows
bundles and the macOS bundle replayed by the agent (tests/windows_bundles.py), and a Linux
report collected on this machine (a real Debian) with the display tree of a docked laptop
(tests/fixtures/sysfs/displays-laptop-docked) — evaluated by the shipped policy packs, with a
waived finding, silent hosts and discovered devices (one unmanaged with telnet open).

Each report is stored under several machine ids and hostnames (one report, several hosts of
the same kind). Two things are set as an admin's configuration and register would set them:
the role ``workplace`` of the office notebooks (agent.toml's ``role``), and the chassis
``laptop`` of the Windows reports, which the agent cannot read on Windows (their models are
notebooks: MSI GL65, Dell Latitude E7270, Huawei MateBook); an asset register gives two
serials a purchase date (the budget's ages). Everything else is what the agent produced.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from collector.budget.assets import parse_assets, store_assets
from collector.db import Database
from collector.discovery import DiscoveredDevice, Discovery, store_discovery
from collector.findings.store import evaluate_hosts
from collector.findings.waivers import add_waiver
from collector.ingest import AgentIdentity, store_report
from collector.limits import Limits
from collector.models import Host, InterfaceRow, SecurityUpdateSighting, Site, table_of
from collector.people import add_user
from collector.policy import PolicySet
from collector.report_decoding import parse_report
from collector.services import add_org, add_site
from collector.settings import SHIPPED_POLICIES
from collector.vulns.feeds import parse
from collector.vulns.importer import read_source, store
from collector.vulns.matching import rematch
from collector.vulns.windows import product
from tests.windows_bundles import WINDOWS, assemble

FIXTURES = Path(__file__).parents[1] / "fixtures"
PASSWORD = "Passwort-fuer-Tests-1"
# user -> (role, organization or None for all)
USERS: dict[str, tuple[str, str | None]] = {
    "admin": ("admin", None),
    "viewer": ("viewer", "Musterstadt"),
    "planner": ("planner", "Musterstadt"),
    "nachbar": ("admin", "Nachbarstadt"),
    "dsb": ("dpo", None),
}
SITES = {
    "Rathaus Musterstadt": ("town-hall", "Musterstadt"),
    "Grundschule Nord": ("school", "Musterstadt"),
    "Kita Sonnenschein": ("kindergarten", "Musterstadt"),
    "Gymnasium Ost": ("school", "Nachbarstadt"),
}
# (site, report kind, hostnames)
PLACEMENT = [
    ("Rathaus Musterstadt", "windows-10-de-laptop", ["rh-verw-01", "rh-verw-02"]),
    ("Rathaus Musterstadt", "darwin-macbook-pro-m2", ["rh-presse-mac"]),
    ("Rathaus Musterstadt", "linux", ["rh-srv-linux"]),
    ("Grundschule Nord", "windows-10-en-laptop", ["gsn-lehrer-01", "gsn-lehrer-02"]),
    ("Grundschule Nord", "windows-11-en-laptop", ["gsn-klasse-01"]),
    ("Grundschule Nord", "linux", ["gsn-linux-01"]),
    ("Kita Sonnenschein", "windows-10-de-laptop", ["kita-buero"]),
    ("Kita Sonnenschein", "linux", ["kita-linux"]),
    ("Gymnasium Ost", "windows-11-en-laptop", ["gyo-lehrer-01"]),
    ("Gymnasium Ost", "darwin-macbook-pro-m2", ["gyo-mac-01"]),
]
# Screen workplaces (host.role as the agent's configuration would set it): the town hall's
# and the teachers' notebooks, none with an external monitor.
WORKPLACES = {"rh-verw-01", "rh-verw-02", "gsn-lehrer-01", "gsn-lehrer-02", "kita-buero"}
SILENT = {"rh-verw-02": 5, "kita-linux": 9}
# The asset register: purchase dates of the Windows notebooks' serials.
ASSETS = """serial,asset_tag,purchase_date,price_eur,cost_center
4ZKM0Z2,INV-0815,2019-03-01,1100.00,IT
6YSTYN1,INV-0923,2021-08-16,1200.00,Schule
"""  # hostname -> days since the last report
# hostname -> days since the collector first saw its pending security updates (as if the
# fleet had reported for that long)
PENDING_SINCE = {"gsn-lehrer-01": 45, "rh-srv-linux": 40}


def replay(directory: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--replay", str(directory)],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    return data


def linux_report() -> dict[str, Any]:
    """This machine's report (a real Debian), displays from a docked laptop's sysfs tree."""
    out = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--sysfs",
         str(FIXTURES / "sysfs" / "displays-laptop-docked")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    return data


def reports(tmp: Path) -> dict[str, dict[str, Any]]:
    out = {name: replay(assemble(name, tmp)) for name in WINDOWS}
    out["darwin-macbook-pro-m2"] = replay(FIXTURES / "darwin-macbook-pro-m2")
    out["linux"] = linux_report()
    return out


@dataclass
class Fleet:
    url: str
    hosts: dict[str, int]  # hostname -> host id
    orgs: dict[str, int]


def build(url: str, tmp: Path) -> Fleet:
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        orgs = {name: add_org(s, name).id or 0 for name in ("Musterstadt", "Nachbarstadt")}
        for name, (kind, site_org) in SITES.items():
            add_site(s, name, kind, site_org)
        for name, (role, scope) in USERS.items():
            add_user(s, name, role, PASSWORD, scope)
    base = reports(tmp)
    hosts: dict[str, int] = {}
    now = dt.datetime.now(dt.UTC)
    for site_name, kind, names in PLACEMENT:
        for hostname in names:
            report = copy.deepcopy(base[kind])
            report["report_id"] = str(uuid.uuid4())
            report["collected_at"] = now.isoformat()
            report["host"]["machine_id"] = f"demo-{hostname}"
            report["host"]["hostname"] = hostname
            report["host"]["site"] = site_name
            if hostname in WORKPLACES:
                report["host"]["role"] = "workplace"
            if kind in WINDOWS:
                report["host"]["chassis"] = "laptop"
            raw = json.dumps(report)
            parsed = parse_report(raw.encode(), Limits())
            with db.write_session() as s:
                site = s.exec(select(Site).where(Site.name == site_name)).one()
                hosts[hostname] = store_report(s, parsed, site=site, source="import").host_id
    with db.engine.begin() as conn:
        for hostname, days in SILENT.items():
            conn.execute(
                sa.update(table_of(Host))
                .where(table_of(Host).c.id == hosts[hostname])
                .values(last_seen=now - dt.timedelta(days=days))
            )
    policies = PolicySet.load(SHIPPED_POLICIES)
    evaluate_hosts(db, list(hosts.values()), policies)
    with db.engine.begin() as conn:
        sightings = table_of(SecurityUpdateSighting)
        for hostname, days in PENDING_SINCE.items():
            conn.execute(
                sa.update(sightings)
                .where(sightings.c.host_id == hosts[hostname])
                .values(first_seen=now - dt.timedelta(days=days))
            )
    evaluate_hosts(db, [hosts[name] for name in PENDING_SINCE], policies)
    with db.session() as s:
        _, covered = add_waiver(
            s, check="sec.updates.security-pending", host="demo-rh-verw-01",
            reason="Wartungsfenster der Fachanwendung", until=now.date() + dt.timedelta(days=60),
            policies=policies,
        )  # fmt: skip
    evaluate_hosts(db, covered, policies)
    _devices(db, hosts)
    with db.session() as s:
        for org_id in orgs.values():
            store_assets(s, org_id, parse_assets(ASSETS.encode()))
    _vulnerabilities(db)
    evaluate_hosts(db, list(hosts.values()), policies)  # the ages changed; the vulnerabilities
    db.dispose()
    return Fleet(url, hosts, orgs)


def _vulnerabilities(db: Database) -> None:
    """The real feeds of ../shared/corpus/vulns (Debian's tracker, KEV, EPSS; of MSRC's data
    only the rows of the fleet's Windows products, which is all a host reads), matched."""
    corpus = Path(__file__).parents[3] / "shared" / "corpus" / "vulns"
    if not corpus.is_dir():
        return
    with db.engine.connect() as conn:
        names = conn.execute(
            sa.select(table_of(Host).c.os_name, table_of(Host).c.os_build, table_of(Host).c.arch)
        ).all()
    products = {product(*row) for row in names} - {None}
    for name in ("debian-tracker/debian.json", "kev/known_exploited_vulnerabilities.json",
                 "epss/example-1.csv", "wesng/definitions.zip"):  # fmt: skip
        content, sha256 = read_source(str(corpus / name))
        assert isinstance(content, bytes)
        parsed = parse(content, name)
        if parsed.feed == "msrc":
            parsed.rows = [r for r in parsed.rows if r["product"] in products]
        store(db, parsed, str(corpus / name), sha256)
    rematch(db)


def _devices(db: Database, hosts: dict[str, int]) -> None:
    """A discovery at Grundschule Nord: a managed PC (its MAC is a reporting host's), a
    printer with LPD, and an old switch with telnet (unmanaged)."""
    with db.session() as s:
        host = s.get(Host, hosts["gsn-linux-01"])
        assert host is not None
        mac = s.exec(
            select(InterfaceRow.mac).where(
                InterfaceRow.host_id == host.id, col(InterfaceRow.mac).is_not(None)
            )
        ).first()
        agent = AgentIdentity("demo-agent", host.machine_id, host.site_id, host.org_id)
        printer = DiscoveredDevice(
            ip="10.20.0.50", mac="00:1b:a9:11:22:33", open_ports=[80, 515, 631, 9100]
        )
        switch = DiscoveredDevice(ip="10.20.0.2", mac="00:0d:65:44:55:66", open_ports=[22, 23, 80])
        devices = [printer, switch]
        if mac:
            devices.append(DiscoveredDevice(ip="10.20.0.11", mac=mac, open_ports=[22]))
        store_discovery(s, agent, Discovery(devices=devices))
