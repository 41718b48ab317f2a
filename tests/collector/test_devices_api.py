"""POST /api/v1/discoveries (agent token) and GET /api/v1/devices (admin/viewer, scoped to
the token's organization), on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from typing import Any

from collector.services import create_api_token, create_enroll_secret
from tests.collector.conftest import Env
from tests.collector.helpers import make_report


def _discovery(*devices: tuple[str, str, list[int]]) -> dict[str, Any]:
    return {
        "interface": "eth0",
        "cidr": "198.18.0.0/24",
        "devices": [{"ip": ip, "mac": mac, "open_ports": ports} for ip, mac, ports in devices],
    }


def _post(env: Env, token: str, body: Any, gzipped: bool = False) -> Any:
    data = json.dumps(body).encode()
    headers = {**env.auth(token), "Content-Type": "application/json"}
    if gzipped:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    return env.client.post("/api/v1/discoveries", content=data, headers=headers)


def test_discoveries_become_devices_with_the_managed_flag(env: Env) -> None:
    _agent_id, token = env.enroll("scanner-1")
    report = make_report("pc-1")
    report["network"]["interfaces"][0]["mac"] = "00:1B:21:00:00:01"  # upper case: normalized
    assert env.post(env.enroll("pc-1")[1], report).status_code == 201

    r = _post(
        env,
        token,
        _discovery(
            ("198.18.0.11", "00-1b-21-00-00-01", [22, 22, 80]),
            ("198.18.0.12", "3c:d9:2b:00:00:02", []),
        ),
        gzipped=True,
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"status": "stored", "devices": 2, "new": 2, "site": "GS Nord"}

    r = env.client.get("/api/v1/devices", headers=env.auth(env.viewer))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 2
    items = {i["mac"]: i for i in page["items"]}
    intel = items["00:1b:21:00:00:01"]
    assert intel["managed"] is True and intel["open_ports"] == [22, 80]
    assert intel["vendor"] == "Intel Corporate" and intel["site"] == "GS Nord"
    hp = items["3c:d9:2b:00:00:02"]
    assert hp["managed"] is False and hp["vendor"] == "Hewlett Packard"
    first_seen = hp["first_seen"]

    # seen again: updated, not duplicated; first_seen stays
    r = _post(env, token, _discovery(("198.18.0.99", "3c:d9:2b:00:00:02", [9100])))
    assert r.status_code == 201 and r.json()["new"] == 0
    r = env.client.get("/api/v1/devices?managed=false", headers=env.auth(env.admin))
    (item,) = r.json()["items"]
    assert item["ip"] == "198.18.0.99" and item["open_ports"] == [9100]
    assert item["first_seen"] == first_seen and item["last_seen"] >= first_seen
    r = env.client.get("/api/v1/devices?managed=true&site=GS%20Nord", headers=env.auth(env.admin))
    assert [i["mac"] for i in r.json()["items"]] == ["00:1b:21:00:00:01"]

    metrics = env.client.get("/metrics/inventory").text
    assert 'inventar_devices_unmanaged{site="GS Nord"} 1.0' in metrics
    assert 'inventar_devices_unmanaged{site="Kita Sonnenschein"} 0.0' in metrics
    assert 'inventar_devices_unmanaged_legacy_port{service="telnet",site="GS Nord"} 0.0' in metrics

    # an unmanaged printer with telnet and LPD open; the managed Intel host's telnet not counted
    r = _post(env, token, _discovery(("198.18.0.99", "3c:d9:2b:00:00:02", [23, 515, 9100])))
    r = _post(env, token, _discovery(("198.18.0.11", "00-1b-21-00-00-01", [22, 23])))
    metrics = env.client.get("/metrics/inventory").text
    for service, count in (("telnet", 1.0), ("lpd", 1.0), ("ftp", 0.0), ("netbios-ssn", 0.0)):
        line = f'inventar_devices_unmanaged_legacy_port{{service="{service}",site="GS Nord"}}'
        assert f"{line} {count}" in metrics


def test_devices_are_scoped_and_guarded(env: Env) -> None:
    _agent_id, token = env.enroll("scanner-1")
    assert _post(env, token, _discovery(("198.18.0.2", "00:1b:21:00:00:09", []))).status_code == 201
    with env.db.session() as s:
        other_viewer = create_api_token(s, "viewer", org="Nachbarstadt")
        other_secret = create_enroll_secret(s, "Kita Sonnenschein")
    r = env.client.get("/api/v1/devices", headers=env.auth(other_viewer))
    assert r.status_code == 200 and r.json()["total"] == 0  # another town's devices are private
    assert env.client.get("/api/v1/devices", headers=env.auth(env.planner)).status_code == 403
    assert env.client.get("/api/v1/devices").status_code == 401
    # the same MAC in another organization is another device
    _id, other_token = env.enroll("scanner-2", other_secret)
    r = _post(env, other_token, _discovery(("198.18.0.2", "00:1b:21:00:00:09", [])))
    assert r.status_code == 201 and r.json() == {
        "status": "stored",
        "devices": 1,
        "new": 1,
        "site": "Kita Sonnenschein",
    }


def test_bad_discoveries_are_refused(env: Env) -> None:
    _agent_id, token = env.enroll("scanner-1")
    assert _post(env, "inv_agt_nope", _discovery()).status_code == 401
    assert _post(env, env.viewer, _discovery()).status_code == 401  # a person's token is no agent
    bad = [
        _discovery(("198.18.0.2", "not-a-mac", [])),
        _discovery(("999.1.1.1", "00:1b:21:00:00:01", [])),
        _discovery(("198.18.0.2", "00:1b:21:00:00:01", [0])),
        {"devices": "x"},
    ]
    for body in bad:
        r = _post(env, token, body)
        assert r.status_code == 422, (body, r.text)
    r = env.client.post(
        "/api/v1/discoveries",
        content=b"\x1f\x8b garbage",
        headers={**env.auth(token), "Content-Encoding": "gzip"},
    )
    assert r.status_code == 400
    assert env.client.get("/api/v1/devices", headers=env.auth(env.admin)).json()["total"] == 0
