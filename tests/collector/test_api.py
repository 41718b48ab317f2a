"""The collector's API in process (TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import sqlalchemy as sa
from sqlmodel import select

from collector.models import Agent, ApiToken, EnrollmentSecret, SoftwareRow
from collector.services import create_api_token, create_enroll_secret, revoke_agent
from tests.collector.conftest import Env
from tests.collector.helpers import make_report


def test_health_ready_openapi(env: Env) -> None:
    assert env.client.get("/healthz").json() == {"status": "ok"}
    assert env.client.get("/readyz").status_code == 200
    spec = env.client.get("/openapi.json").json()
    assert "/api/v1/reports" in spec["paths"]
    assert "Report" in spec["components"]["schemas"]


def test_enroll_and_ingest_and_read_back(env: Env) -> None:
    agent_id, token = env.enroll("m-1")
    report = make_report("m-1", "pc-1", software=5)
    r = env.post(token, report)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "stored"
    host_id = r.json()["host_id"]

    hosts = env.client.get("/api/v1/hosts", headers=env.auth(env.viewer)).json()
    assert hosts["total"] == 1
    item = hosts["items"][0]
    assert item["hostname"] == "pc-1" and item["site"] == "GS Nord"
    assert item["os"]["family"] == "linux" and item["last_seen"]

    detail = env.client.get(f"/api/v1/hosts/{host_id}", headers=env.auth(env.viewer)).json()
    assert detail["agent_id"] == agent_id
    assert detail["report"]["report_id"] == report["report_id"]
    assert detail["derived"]["software_count"] == 5
    assert detail["derived"]["pending_security_updates"] == 1

    sites = env.client.get("/api/v1/sites", headers=env.auth(env.viewer)).json()
    assert {s["name"]: s["hosts"] for s in sites} == {"GS Nord": 1, "Kita Sonnenschein": 0}


def test_secrets_and_tokens_stored_only_as_hashes(env: Env) -> None:
    _agent_id, token = env.enroll("m-1")
    with env.db.session() as s:
        stored = [a.token_hash for a in s.exec(select(Agent))]
        stored += [t.token_hash for t in s.exec(select(ApiToken))]
        stored += [e.secret_hash for e in s.exec(select(EnrollmentSecret))]
    for secret in (token, env.secret, env.admin, env.viewer):
        assert secret not in stored
    assert all(len(h) == 64 for h in stored)


def test_resend_is_idempotent(env: Env) -> None:
    _, token = env.enroll("m-1")
    report = make_report("m-1")
    assert env.post(token, report).status_code == 201
    again = env.post(token, report)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    page = env.client.get("/api/v1/hosts/1/reports", headers=env.auth(env.viewer)).json()
    assert page["total"] == 1


def test_gzip_body(env: Env) -> None:
    _, token = env.enroll("m-1")
    body = gzip.compress(json.dumps(make_report("m-1")).encode())
    r = env.client.post(
        "/api/v1/reports",
        content=body,
        headers={**env.auth(token), "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text


def test_unchanged_sections_are_not_rewritten(env: Env) -> None:
    _, token = env.enroll("m-1")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    first = env.post(token, make_report("m-1", software=4, collected_at=t0)).json()
    assert set(first["changed_sections"]) >= {"host", "software", "patches"}
    with env.db.session() as s:
        ids_before = sorted(r.id or 0 for r in s.exec(select(SoftwareRow)))
    changed = make_report("m-1", software=4, collected_at=t0 + dt.timedelta(hours=1))
    changed["patches"]["pending"] = []
    second = env.post(token, changed).json()
    assert second["changed_sections"] == ["patches"]
    with env.db.session() as s:
        assert sorted(r.id or 0 for r in s.exec(select(SoftwareRow))) == ids_before
    third = env.post(token, make_report("m-1", software=5, collected_at=t0 + dt.timedelta(hours=2)))
    assert third.json()["changed_sections"] == ["patches", "software"]
    with env.db.session() as s:
        assert len(s.exec(select(SoftwareRow)).all()) == 5


def test_history_in_collection_order_and_late_report(env: Env) -> None:
    _, token = env.enroll("m-1")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    late = make_report("m-1", "old-name", collected_at=t0)
    newer = make_report("m-1", "new-name", collected_at=t0 + dt.timedelta(days=1))
    assert env.post(token, newer).status_code == 201
    r = env.post(token, late)  # from the spool, after the newer one
    assert r.status_code == 201 and r.json()["changed_sections"] == []
    page = env.client.get("/api/v1/hosts/1/reports", headers=env.auth(env.viewer)).json()
    assert [i["report_id"] for i in page["items"]] == [late["report_id"], newer["report_id"]]
    host = env.client.get("/api/v1/hosts/1", headers=env.auth(env.viewer)).json()
    assert host["hostname"] == "new-name"
    full = env.client.get(
        "/api/v1/hosts/1/reports?full=true&limit=1&offset=1", headers=env.auth(env.viewer)
    ).json()
    assert full["items"][0]["report"]["host"]["hostname"] == "new-name"


def test_wrong_secret_and_revoked_agent(env: Env) -> None:
    r = env.client.post(
        "/api/v1/enroll", json={"secret": "inv_enr_wrong", "machine_id": "m-1", "hostname": "x"}
    )
    assert r.status_code == 401 and "secret" in r.json()["detail"]
    agent_id, token = env.enroll("m-1")
    with env.db.session() as s:
        revoke_agent(s, agent_id)
    r = env.post(token, make_report("m-1"))
    assert r.status_code == 401


def test_revocation_holds_for_an_agent_the_collector_has_seen(env: Env) -> None:
    # The ingest endpoint keeps agents it has seen in memory; revocation must still win.
    agent_id, token = env.enroll("m-2")
    report = make_report("m-2")
    assert env.post(token, report).status_code == 201
    with env.db.session() as s:
        revoke_agent(s, agent_id)
    assert env.post(token, report).status_code == 401  # not even a resend is acknowledged
    assert env.post(token, make_report("m-2")).status_code == 401


def test_missing_or_wrong_token(env: Env) -> None:
    assert env.client.post("/api/v1/reports", json=make_report()).status_code == 401
    assert env.post("inv_agt_nope", make_report()).status_code == 401
    # a person's token is no agent token
    assert env.post(env.admin, make_report()).status_code == 401
    assert env.client.get("/api/v1/hosts").status_code == 401
    assert env.client.get("/api/v1/hosts", headers=env.auth("wrong")).status_code == 401
    assert env.client.get("/api/v1/sites", headers=env.auth("x" * 10_000)).status_code == 401
    # an agent's token is no API token
    _, token = env.enroll("m-1")
    assert env.client.get("/api/v1/hosts", headers=env.auth(token)).status_code == 401


def test_agent_reports_only_its_own_machine(env: Env) -> None:
    _, token_a = env.enroll("m-a")
    _, token_b = env.enroll("m-b")
    assert env.post(token_b, make_report("m-b")).status_code == 201
    r = env.post(token_a, make_report("m-b", "forged"))
    assert r.status_code == 403 and "machine" in r.json()["detail"]
    hosts = env.client.get("/api/v1/hosts", headers=env.auth(env.viewer)).json()
    assert [h["hostname"] for h in hosts["items"]] == ["pc-0001"]


def test_roles(env: Env) -> None:
    planner = env.auth(env.planner)
    assert env.client.get("/api/v1/hosts", headers=planner).status_code == 403
    assert env.client.get("/api/v1/hosts/1", headers=planner).status_code == 403
    assert env.client.get("/api/v1/sites", headers=planner).status_code == 200
    assert env.client.get("/api/v1/hosts", headers=env.auth(env.admin)).status_code == 200


def test_org_scoped_token_sees_only_its_org(env: Env) -> None:
    _, token = env.enroll("m-town")
    assert env.post(token, make_report("m-town", "town-pc")).status_code == 201
    with env.db.session() as s:
        kita_secret = create_enroll_secret(s, "Kita Sonnenschein")
        neighbour = create_api_token(s, "viewer", "nb", "Nachbarstadt")
        default_org = create_api_token(s, "admin", "town", "default")
    _, kita_token = env.enroll("m-kita", kita_secret)
    r = env.post(kita_token, make_report("m-kita", "kita-pc"))
    assert r.status_code == 201
    kita_host = r.json()["host_id"]

    def names(token: str, query: str = "") -> list[str]:
        page = env.client.get(f"/api/v1/hosts{query}", headers=env.auth(token)).json()
        assert page["total"] == len(page["items"])
        return sorted(h["hostname"] for h in page["items"])

    assert names(env.viewer) == ["kita-pc", "town-pc"]  # unscoped: all organizations
    assert names(neighbour) == ["kita-pc"]
    assert names(default_org) == ["town-pc"]
    assert names(default_org, "?site=Kita%20Sonnenschein") == []
    assert names(default_org, "?kind=kindergarten") == []
    r = env.client.get(f"/api/v1/hosts/{kita_host}", headers=env.auth(default_org))
    assert r.status_code == 404
    for path in ("reports", "changes"):
        r = env.client.get(f"/api/v1/hosts/{kita_host}/{path}", headers=env.auth(default_org))
        assert r.status_code == 404
    kita_reports = env.client.get(f"/api/v1/hosts/{kita_host}/reports", headers=env.auth(neighbour))
    report_id = kita_reports.json()["items"][0]["report_id"]
    r = env.client.get(
        f"/api/v1/hosts/{kita_host}/reports/{report_id}", headers=env.auth(default_org)
    )
    assert r.status_code == 404
    sites = env.client.get("/api/v1/sites", headers=env.auth(default_org)).json()
    assert [(s["name"], s["hosts"]) for s in sites] == [("GS Nord", 1)]


def test_filters_and_pagination(env: Env) -> None:
    for i in range(5):
        _, token = env.enroll(f"m-{i}")
        report = make_report(f"m-{i}", f"pc-{i}")
        if i == 4:
            report["os"]["family"] = "windows"
        assert env.post(token, report).status_code == 201
    viewer = env.auth(env.viewer)
    page = env.client.get("/api/v1/hosts?limit=2&offset=2", headers=viewer).json()
    assert page["total"] == 5 and [h["hostname"] for h in page["items"]] == ["pc-2", "pc-3"]
    page = env.client.get("/api/v1/hosts?os=windows", headers=viewer).json()
    assert [h["hostname"] for h in page["items"]] == ["pc-4"]
    page = env.client.get("/api/v1/hosts?site=GS%20Nord&kind=school", headers=viewer).json()
    assert page["total"] == 5
    for bad in ("?limit=0", "?limit=100000", "?offset=-1", "?os=beos", "?site=%00"):
        assert env.client.get(f"/api/v1/hosts{bad}", headers=viewer).status_code == 422, bad
    assert env.client.get("/api/v1/hosts/99999999999999", headers=viewer).status_code == 422
    assert env.client.get("/api/v1/hosts/12345", headers=viewer).status_code == 404


def test_metrics(env: Env) -> None:
    _, token = env.enroll("m-1")
    env.post(token, make_report("m-1", "pc-1"))
    env.post("bad", make_report("m-1", "pc-1"))
    text = env.client.get("/metrics/inventory").text + env.client.get("/metrics").text
    assert 'inventar_hosts{os_family="linux",site="GS Nord",site_kind="school"} 1.0' in text
    kita = 'site="Kita Sonnenschein",site_kind="kindergarten"'
    assert f'inventar_hosts{{os_family="linux",{kita}}} 0.0' in text
    assert 'inventar_host_last_seen_timestamp_seconds{host="pc-1",site="GS Nord"}' in text
    assert 'inventar_reports_received_total{result="stored"} 1.0' in text
    assert 'inventar_reports_received_total{result="unauthorized"} 1.0' in text


def test_upgrade_is_idempotent(env: Env) -> None:
    env.db.upgrade()
    with env.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM organizations")).scalars().all() == [
            "default",
            "Nachbarstadt",
        ]
