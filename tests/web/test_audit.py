"""The audit log: every kind of change (through the web UI, and through the command line) and
every export leaves exactly one entry naming who acted; no route can change or delete an
entry; a viewer cannot read it; old entries go after the retention."""

from __future__ import annotations

import datetime as dt
import getpass
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from collector import audit
from collector.cli import main as cli
from collector.models import AuditEntry, Finding, User, WaiverRecord, table_of
from collector.services import enroll
from tests.web.conftest import Client, csrf_of


def _entries(client: Client) -> list[tuple[Any, ...]]:
    with client.db.engine.connect() as conn:
        rows = conn.execute(sa.select(table_of(AuditEntry)).order_by(table_of(AuditEntry).c.id))
        return [tuple(r) for r in rows]


def _new(client: Client, before: int) -> list[AuditEntry]:
    with client.db.session() as s:
        return list(s.exec(select(AuditEntry).where(col(AuditEntry.id) > before)
                           .order_by(col(AuditEntry.id))))  # fmt: skip


def _last_id(client: Client) -> int:
    with client.db.session() as s:
        return int(s.exec(select(sa.func.coalesce(sa.func.max(AuditEntry.id), 0))).one() or 0)


def _token(client: Client, path: str = "/admin") -> str:
    return csrf_of(client.http.get(path).text)


def _post(client: Client, path: str, **form: str) -> Any:
    form.setdefault("csrf_token", _token(client))
    return client.http.post(path, data=form, follow_redirects=False)


def _one(client: Client, before: int, action: str, actor: str = "user:admin") -> AuditEntry:
    """The change left exactly one entry, of ``action``, by ``actor``, with an address."""
    entries = _new(client, before)
    assert [(e.action, e.actor) for e in entries] == [(action, actor)], entries
    assert entries[0].address  # from where: the client's address
    return entries[0]


def test_every_change_through_the_web_ui_is_recorded_once_with_the_person(client: Client):
    assert client.login().status_code == 303
    steps: list[tuple[str, dict[str, str], str, int]] = [
        ("/admin/orgs", {"name": "Kreisstadt"}, "org.add", 303),
        ("/admin/sites", {"name": "Schule Süd", "kind": "school", "org": "Kreisstadt"},
         "site.add", 303),
        ("/admin/secrets", {"site": "Schule Süd", "name": "Erstausstattung", "expires": "30d"},
         "enroll_secret.create", 200),
        ("/admin/tokens", {"role": "dpo", "name": "Datenschutz", "org": ""},
         "token.create", 200),
        ("/admin/people", {"name": "clara", "role": "viewer", "org": "Kreisstadt",
                           "password": ""}, "user.add", 200),
    ]  # fmt: skip
    for path, form, action, status in steps:
        before = _last_id(client)
        response = _post(client, path, **form)
        assert response.status_code == status, (path, response.text[:500])
        _one(client, before, action)
    # What was shown once is really the secret / the token / the password.
    with client.db.session() as s:
        clara = s.exec(select(User).where(User.name == "clara")).one()
        secret_id = s.execute(sa.text("SELECT max(id) FROM enrollment_secrets")).scalar_one()
        token_id = s.execute(sa.text("SELECT max(id) FROM api_tokens")).scalar_one()
    agent = _agent(client)
    more = [
        (f"/admin/people/{clara.id}/role", {"role": "planner", "org": ""}, "user.role"),
        (f"/admin/people/{clara.id}/disable", {}, "user.disable"),
        (f"/admin/people/{clara.id}/enable", {}, "user.enable"),
        (f"/admin/people/{clara.id}/password", {}, "user.password"),
        (f"/admin/secrets/{secret_id}/revoke", {}, "enroll_secret.revoke"),
        (f"/admin/tokens/{token_id}/revoke", {}, "token.revoke"),
        (f"/admin/agents/{agent}/revoke", {}, "agent.revoke"),
    ]
    for path, form, action in more:
        before = _last_id(client)
        response = _post(client, path, **form)
        assert response.status_code in (200, 303), (path, response.text[:500])
        _one(client, before, action)
    # Waivers, on a host's page.
    host = client.fleet.hosts["gsn-lehrer-01"]
    with client.db.session() as s:
        check = s.exec(select(Finding.check_id).where(
            Finding.host_id == host, Finding.status == "fail",
            col(Finding.resolved_at).is_(None))).first()  # fmt: skip
    assert check is not None
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    before = _last_id(client)
    added = _post(client, f"/hosts/{host}/waivers", check=check, scope="host",
                  reason="Ersatz bestellt", until=until)  # fmt: skip
    assert added.status_code == 303
    entry = _one(client, before, "waiver.add")
    assert entry.target == f"{check} @ host gsn-lehrer-01" and entry.details["reason"]
    with client.db.session() as s:
        waiver = s.exec(select(WaiverRecord).where(WaiverRecord.host_id == host)).one()
    before = _last_id(client)
    assert _post(client, f"/waivers/{waiver.id}/delete", host_id="admin").status_code == 303
    _one(client, before, "waiver.remove")
    # A form that fails changes nothing and records nothing.
    before = _last_id(client)
    assert _post(client, "/admin/orgs", name="Kreisstadt").status_code == 400
    assert _new(client, before) == []


def _agent(client: Client) -> str:
    with client.db.session() as s:
        secret = _secret(s)
        return enroll(s, secret, "machine-audit-test", "pc-audit").agent_id


def _secret(session: Any) -> str:
    from collector.services import create_enroll_secret

    return create_enroll_secret(session, "Grundschule Nord")


def test_every_export_is_recorded(client: Client) -> None:
    assert client.login().status_code == 303
    exports = {
        "/hosts.csv?site=Grundschule+Nord": "export.hosts_csv",
        "/budget.xlsx?from_year=2026&years=5": "export.budget_xlsx",
        "/budget.csv?from_year=2026&years=5": "export.budget_csv",
        "/budget.png?from_year=2026&years=5": "export.budget_png",
        "/compliance.csv": "export.compliance_csv",
        "/ergonomics.csv": "export.ergonomics_csv",
        "/audit.csv": "export.audit_csv",
    }
    for path, action in exports.items():
        before = _last_id(client)
        response = client.http.get(path)
        assert response.status_code == 200, path
        entry = _one(client, before, action)
        assert entry.target  # what was exported (the filter, or the packs' digest)


def test_an_export_through_the_api_is_recorded_with_the_token(client: Client) -> None:
    from collector.services import create_api_token

    with client.db.session() as s:
        token = create_api_token(s, "planner", "Kämmerei", "Musterstadt")
        token_id = s.execute(sa.text("SELECT max(id) FROM api_tokens")).scalar_one()
    before = _last_id(client)
    response = client.http.get("/api/v1/budget?format=xlsx",
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 200
    entry = _one(client, before, "export.budget_xlsx", f"token:{token_id}")
    assert entry.org_id == client.fleet.orgs["Musterstadt"]
    before = _last_id(client)
    assert client.http.get("/api/v1/budget", headers={"Authorization": f"Bearer {token}"}
                           ).status_code == 200  # fmt: skip
    assert _new(client, before) == []  # reading JSON is no export


def test_changes_on_the_command_line_are_recorded_as_the_os_user(
    client: Client, tmp_path: Path
) -> None:
    url = client.fleet.url
    who = f"cli:{getpass.getuser()}"
    register = tmp_path / "assets.csv"
    register.write_text("serial,purchase_date\nABC123,2024-01-15\n", encoding="utf-8")
    host = client.fleet.hosts["kita-linux"]
    commands = [
        (["users", "add", "dora", "--role", "dpo"], "user.add"),
        (["token", "create", "--role", "viewer", "--name", "Skript"], "token.create"),
        (["sites", "add", "Hort", "--kind", "kindergarten", "--org", "Musterstadt"], "site.add"),
        (["assets", "import", str(register), "--org", "Musterstadt"], "assets.import"),
        (["hosts", "move", str(host), "--site", "Hort"], "host.move"),
    ]
    for argv, action in commands:
        before = _last_id(client)
        assert cli([*argv[:2], "--database-url", url, *argv[2:]]) == 0, argv
        entries = _new(client, before)
        assert [(e.action, e.actor, e.address) for e in entries] == [(action, who, "cli")]


def test_no_route_changes_or_deletes_an_entry(client: Client) -> None:
    """Every route that accepts a change is called as an admin with a valid token, with the
    id of an existing entry wherever the path takes an id: the entries before stay exactly
    as they were (only new ones may be appended). /audit itself takes GET only."""
    assert client.login().status_code == 303
    client.http.get("/hosts.csv")  # at least one entry
    before = _entries(client)
    assert before
    first = before[0][0]
    token = _token(client)
    called = 0
    for path, methods in _routes(client.http.app.routes):
        for method in methods - {"GET", "HEAD", "OPTIONS"}:
            concrete = re.sub(r"\{[^}]+\}", str(first), path)
            response = client.http.request(method, concrete, data={"csrf_token": token},
                                           follow_redirects=False)  # fmt: skip
            assert response.status_code < 500 or path == "/api/v1/reports", (method, path)
            called += 1
    assert called >= 20
    after = _entries(client)
    assert after[: len(before)] == before
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/audit", f"/audit/{first}", "/audit.csv"):
            response = client.http.request(method, path, data={"csrf_token": token})
            assert response.status_code in (404, 405), (method, path)
    # Not even the database lets the application update a row (the trigger of 0013).
    with pytest.raises(sa.exc.DatabaseError), client.db.engine.begin() as conn:
        conn.execute(sa.update(table_of(AuditEntry)).values(actor="someone else"))
    assert _entries(client)[: len(before)] == before


def _routes(routes: Any, prefix: str = "") -> Any:
    """(path, methods) of every route of the app, also of included routers (FastAPI wraps
    them; their own routes carry their paths, the include its prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _routes(included.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif getattr(route, "methods", None):
            yield prefix + route.path, set(route.methods)


def test_who_may_read_the_audit_log(client: Client) -> None:
    for user, status in (("viewer", 403), ("planner", 403), ("dsb", 200), ("admin", 200)):
        assert client.login(user).status_code == 303
        assert client.http.get("/audit").status_code == status, user
        assert client.http.get("/audit.csv").status_code == status, user
        assert client.http.get("/privacy").status_code == status, user
    # The data-protection officer sees no host details.
    assert client.login("dsb").status_code == 303
    assert client.http.get("/", follow_redirects=False).headers["location"] == "/privacy"
    host = client.fleet.hosts["gsn-lehrer-01"]
    for path in ("/hosts", f"/hosts/{host}", "/hosts.csv", "/findings", "/budget", "/wlan",
                 "/compliance", "/ergonomics", "/admin/people"):  # fmt: skip
        assert client.http.get(path).status_code == 403, path
    # An admin of one organization reads that organization's entries only.
    assert client.login("admin").status_code == 303
    client.http.get("/hosts.csv?site=Grundschule+Nord")
    assert client.login("nachbar").status_code == 303
    page = client.http.get("/audit").text
    assert "site=Grundschule" not in page and "Grundschule Nord" not in page


def test_old_entries_go_after_the_retention(client: Client) -> None:
    now = dt.datetime.now(dt.UTC)
    with client.db.session() as s:
        audit.record(s, "test.old", "old")
        audit.record(s, "test.new", "new")
        s.commit()
    with client.db.engine.begin() as conn:
        # Only a DELETE may touch old rows; to age one, it is written aged (as a test).
        conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        conn.execute(sa.update(table_of(AuditEntry))
                     .where(table_of(AuditEntry).c.action == "test.old")
                     .values(at=now - dt.timedelta(days=400)))  # fmt: skip
    assert audit.purge(client.db, 365) == 1
    with client.db.session() as s:
        actions = set(s.exec(select(AuditEntry.action)))
    assert "test.new" in actions and "test.old" not in actions
