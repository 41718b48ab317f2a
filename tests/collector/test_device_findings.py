"""Findings of discovered devices (policies/devices.yaml) through the real path: a host
reports, an agent's discovery finds devices, the evaluator judges them; the API, the metrics
and waivers (SQLite and PostgreSQL).

The devices, and what a municipal admin expects of each (worked out from the pack's rules):

  .11  the reporting PC itself (its MAC is an interface of a host), ports 22, 445
       -> managed; SMB on a managed host is the host checks' business: nothing
  .12  an HP printer nobody manages, ports 80, 515, 9100
       -> dev.unmanaged, dev.lpd, dev.http-admin (80 without 443)
  .13  an old switch, ports 23, 80, 443
       -> dev.unmanaged, dev.telnet (HTTPS is there: no dev.http-admin)
  .14  a NAS without agent, ports 21, 139, 445, 443
       -> dev.unmanaged, dev.ftp, dev.netbios, dev.smb.unmanaged
  .15  a private access point with nothing open that was probed
       -> dev.unmanaged
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Any

from collector.findings import evaluator_for
from collector.findings.waivers import add_waiver
from collector.policy import PolicySet
from tests.collector.conftest import Env
from tests.collector.helpers import make_report
from tests.collector.test_metrics import samples
from tests.policy.helpers import POLICIES_DIR

PC = "00:1b:21:00:00:11"
PRINTER = "3c:d9:2b:00:00:12"
SWITCH = "00:1b:21:00:00:13"
NAS = "00:1b:21:00:00:14"
AP = "00:1b:21:00:00:15"
DEVICES = [
    ("198.18.0.11", PC, [22, 445]),
    ("198.18.0.12", PRINTER, [80, 515, 9100]),
    ("198.18.0.13", SWITCH, [23, 80, 443]),
    ("198.18.0.14", NAS, [21, 139, 443, 445]),
    ("198.18.0.15", AP, []),
]
EXPECTED = {
    (PRINTER, "dev.unmanaged"),
    (PRINTER, "dev.lpd"),
    (PRINTER, "dev.http-admin"),
    (SWITCH, "dev.unmanaged"),
    (SWITCH, "dev.telnet"),
    (NAS, "dev.unmanaged"),
    (NAS, "dev.ftp"),
    (NAS, "dev.netbios"),
    (NAS, "dev.smb.unmanaged"),
    (AP, "dev.unmanaged"),
}


def discover(env: Env) -> None:
    _agent, token = env.enroll("scanner-1")
    report = make_report("pc-11")
    report["network"]["interfaces"][0]["mac"] = PC.upper()
    assert env.post(env.enroll("pc-11")[1], report).status_code == 201
    body = {
        "interface": "eth0",
        "cidr": "198.18.0.0/24",
        "devices": [{"ip": ip, "mac": mac, "open_ports": ports} for ip, mac, ports in DEVICES],
    }
    r = env.client.post(
        "/api/v1/discoveries",
        content=gzip.compress(json.dumps(body).encode()),
        headers={
            **env.auth(token),
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert r.status_code == 201, r.text
    settle(env)


def settle(env: Env) -> None:
    evaluator = evaluator_for(env.db)
    assert evaluator is not None and evaluator.drain(), "the evaluator did not finish"


def device_findings(env: Env, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    r = env.client.get(
        "/api/v1/device-findings",
        params={"limit": 500, **params},
        headers=env.auth(token or env.viewer),
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def failing(env: Env) -> set[tuple[str, str]]:
    return {(i["mac"], i["check"]) for i in device_findings(env) if i["status"] == "fail"}


def test_discovered_devices_get_exactly_the_expected_findings(env: Env) -> None:
    discover(env)
    assert failing(env) == EXPECTED
    items = device_findings(env)
    # Every device has a finding per check (passes too), one row each.
    checks = len(PolicySet.load(POLICIES_DIR).device_checks)
    assert len(items) == len(DEVICES) * checks
    telnet = next(i for i in items if (i["mac"], i["check"]) == (SWITCH, "dev.telnet"))
    assert telnet["severity"] == "high" and telnet["site"] == "GS Nord"
    assert telnet["ip"] == "198.18.0.13" and telnet["vendor"] == "Intel Corporate"
    assert telnet["messages"] == {
        "de": "Telnet (Port 23, unverschlüsselt) ist offen auf Intel Corporate 198.18.0.13",
        "en": "Telnet (port 23, clear text) is open on Intel Corporate 198.18.0.13",
    }
    smb = next(i for i in items if (i["mac"], i["check"]) == (PC, "dev.smb.unmanaged"))
    assert smb["status"] == "not-applicable"
    # One device's findings, and the filters.
    r = env.client.get(f"/api/v1/devices/{NAS}/findings", headers=env.auth(env.viewer))
    assert r.status_code == 200
    assert {i["check"] for i in r.json()["items"] if i["status"] == "fail"} == {
        "dev.unmanaged",
        "dev.ftp",
        "dev.netbios",
        "dev.smb.unmanaged",
    }
    assert {i["mac"] for i in device_findings(env, check="dev.unmanaged", status="fail")} == {
        PRINTER,
        SWITCH,
        NAS,
        AP,
    }
    # Metrics: failing devices per check and site.
    text = env.client.get("/metrics/inventory").text
    counted = {
        dict(labels)["check"]: value
        for (name, labels), value in samples(text).items()
        if name == "inventar_check_failing_devices"
    }
    assert counted["dev.unmanaged"] == 4 and counted["dev.telnet"] == 1


def test_a_device_becomes_managed_when_its_host_reports(env: Env) -> None:
    discover(env)
    assert (AP, "dev.unmanaged") in failing(env)
    report = make_report("ap-15", "ap-15")
    report["network"]["interfaces"][0]["mac"] = AP
    assert env.post(env.enroll("ap-15")[1], report).status_code == 201
    settle(env)
    assert (AP, "dev.unmanaged") not in failing(env)
    resolved = [
        i
        for i in device_findings(env, history=True)
        if (i["mac"], i["check"]) == (AP, "dev.unmanaged") and i["resolved_at"]
    ]
    assert len(resolved) == 1  # the failure's episode is history now


def test_waiving_a_device_finding(env: Env) -> None:
    discover(env)
    policies = PolicySet.load(POLICIES_DIR)
    with env.db.session() as session:
        add_waiver(
            session,
            check="dev.lpd",
            reason="Altdrucker im Lehrerzimmer, Ersatz 2027",
            until=dt.date(2027, 6, 30),
            policies=policies,
            device=PRINTER.upper(),
        )
    evaluator = evaluator_for(env.db)
    assert evaluator is not None
    evaluator.notify_devices(
        [i["device_id"] for i in device_findings(env) if i["mac"] == PRINTER][:1]
    )
    settle(env)
    lpd = next(i for i in device_findings(env) if (i["mac"], i["check"]) == (PRINTER, "dev.lpd"))
    assert lpd["status"] == "waived"
    assert lpd["waiver_reason"] == "Altdrucker im Lehrerzimmer, Ersatz 2027"
    assert lpd["waiver_until"] == "2027-06-30"
    assert failing(env) == EXPECTED - {(PRINTER, "dev.lpd")}


def test_another_organization_sees_no_device_findings(env: Env) -> None:
    from collector.services import create_api_token

    discover(env)
    with env.db.session() as session:
        token = create_api_token(session, "viewer", "nachbar", "Nachbarstadt")
    assert device_findings(env, token) == []
    r = env.client.get(f"/api/v1/devices/{NAS}/findings", headers=env.auth(token))
    assert r.status_code == 404
