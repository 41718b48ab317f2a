"""The web UI's security: CSRF, roles, organizations, login throttling, session cookies and
timeouts, security headers. Against the app on a copy of the demo fleet; the TLS cookie
variant against a real server behind a (simulated, trusted) TLS-terminating proxy."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import httpx
import sqlalchemy as sa
from sqlmodel import col, select

from collector.models import Finding, WaiverRecord, WebSession, table_of
from tests.web.conftest import Client, Server, csrf_of
from tests.web.fleet import PASSWORD

PAGES = ["/", "/hosts", "/findings", "/devices", "/hosts?severity=critical&severity=high"]


def _first_failing(client: Client, host_id: int) -> str:
    with client.db.session() as s:
        check = s.exec(
            select(Finding.check_id).where(
                Finding.host_id == host_id,
                Finding.status == "fail",
                col(Finding.resolved_at).is_(None),
            )
        ).first()
    assert check is not None
    return check


def _waiver_form(client: Client, host_id: int, check: str, token: str | None) -> dict[str, str]:
    form = {"check": check, "scope": "host", "reason": "Ersatz bestellt", "until": "31.12.2099"}
    form["until"] = (dt.date.today() + dt.timedelta(days=30)).strftime("%d.%m.%Y")
    if token is not None:
        form["csrf_token"] = token
    return form


def test_a_post_without_csrf_token_is_refused(client: Client) -> None:
    assert client.login().status_code == 303
    host = client.fleet.hosts["gsn-lehrer-01"]
    check = _first_failing(client, host)
    page = client.http.get(f"/hosts/{host}")
    refused = client.http.post(
        f"/hosts/{host}/waivers", data=_waiver_form(client, host, check, None),
        follow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 403
    wrong = client.http.post(
        f"/hosts/{host}/waivers", data=_waiver_form(client, host, check, "x" * 43),
        follow_redirects=False,
    )  # fmt: skip
    assert wrong.status_code == 403
    # Another site's page sending the right token: refused by the Origin check.
    foreign = client.http.post(
        f"/hosts/{host}/waivers", data=_waiver_form(client, host, check, csrf_of(page.text)),
        headers={"Origin": "https://evil.example"}, follow_redirects=False,
    )  # fmt: skip
    assert foreign.status_code == 403
    with client.db.session() as s:
        assert s.exec(select(WaiverRecord).where(WaiverRecord.host_id == host)).first() is None
    # The same form with the page's token is accepted, and the finding is waived at once.
    ok = client.http.post(
        f"/hosts/{host}/waivers", data=_waiver_form(client, host, check, csrf_of(page.text)),
        follow_redirects=False,
    )  # fmt: skip
    assert ok.status_code == 303, ok.text
    with client.db.session() as s:
        status = s.exec(
            select(Finding.status).where(
                Finding.host_id == host,
                Finding.check_id == check,
                col(Finding.resolved_at).is_(None),
            )
        ).one()
    assert status == "waived"


def test_the_login_form_needs_its_token_too(client: Client) -> None:
    client.http.get("/login")
    response = client.http.post(
        "/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "inventar_session" not in response.headers.get("set-cookie", "")


def test_a_viewer_cannot_add_or_remove_a_waiver(client: Client) -> None:
    assert client.login("viewer").status_code == 303
    host = client.fleet.hosts["gsn-lehrer-01"]
    page = client.http.get(f"/hosts/{host}")
    assert page.status_code == 200
    assert "/waivers" not in page.text  # no waiver forms for a viewer
    token = csrf_of(page.text)  # the logout form's token: a valid token of this session
    check = _first_failing(client, host)
    response = client.http.post(
        f"/hosts/{host}/waivers", data=_waiver_form(client, host, check, token),
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 403
    with client.db.session() as s:
        waiver = s.exec(select(WaiverRecord)).first()
    assert waiver is not None  # the fleet's own waiver
    removed = client.http.post(
        f"/waivers/{waiver.id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert removed.status_code == 403
    with client.db.session() as s:
        assert s.get(WaiverRecord, waiver.id) is not None


def test_another_organizations_host_is_not_found(client: Client) -> None:
    assert client.login("nachbar").status_code == 303
    theirs = client.fleet.hosts["gyo-lehrer-01"]
    foreign = client.fleet.hosts["gsn-lehrer-01"]
    assert client.http.get(f"/hosts/{theirs}").status_code == 200
    response = client.http.get(f"/hosts/{foreign}")
    assert response.status_code == 404
    assert "gsn-lehrer-01" not in response.text
    assert client.http.get("/hosts/999999").status_code == 404
    # Nor listed, counted, exported or matrixed.
    for path in ("/", "/hosts", "/hosts.csv", "/findings", "/devices"):
        body = client.http.get(path).text
        assert "gsn-" not in body and "Grundschule Nord" not in body, path
    assert "Gymnasium Ost" in client.http.get("/").text
    # A waiver on another organization's host: 404 as well.
    token = csrf_of(client.http.get(f"/hosts/{theirs}").text)
    response = client.http.post(
        f"/hosts/{foreign}/waivers",
        data=_waiver_form(client, foreign, _first_failing(client, foreign), token),
        follow_redirects=False,
    )
    assert response.status_code == 404


def test_five_wrong_passwords_throttle_the_account(client: Client) -> None:
    answers = [client.login("viewer", "wrong password!").status_code for _ in range(5)]
    assert answers == [401, 401, 401, 401, 429]
    locked = client.login("viewer", PASSWORD)  # the right password, during the lock
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 300
    assert "Zu viele fehlgeschlagene Anmeldungen" in locked.text
    assert "inventar_session" not in locked.headers.get("set-cookie", "")
    # Another account from the same address is locked as well (the address counts too).
    assert client.login("admin", PASSWORD).status_code == 429
    # After the lock, the right password works again.
    with client.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE login_throttle SET locked_until = :t"),
                     {"t": dt.datetime(2000, 1, 1)})  # fmt: skip
    assert client.login("viewer", PASSWORD).status_code == 303


def test_the_session_cookie_over_http(client: Client) -> None:
    client.http.get("/login")
    before = client.http.cookies.get("inventar_session")
    response = client.login()
    cookie = next(h for h in response.headers.get_list("set-cookie")
                  if h.startswith("inventar_session="))  # fmt: skip
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags
    assert before is None
    # A new session id at every login: logging in again replaces the session.
    first = client.http.cookies.get("inventar_session")
    client.login()
    second = client.http.cookies.get("inventar_session")
    assert first and second and first != second
    with client.db.session() as s:
        assert len(s.exec(select(WebSession)).all()) == 1  # the first one ended


def test_the_session_cookie_under_tls(server: Server) -> None:
    """Behind a TLS-terminating proxy on the same machine (X-Forwarded-Proto from
    127.0.0.1, which `serve` trusts): Secure, and the __Host- name."""
    headers = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        form = http.get("/login")
        login_cookie = form.headers["set-cookie"]
        assert "secure" in login_cookie.lower()
        # httpx keeps a Secure cookie from an http:// URL to itself; the browser behind
        # the proxy would send it: as that browser, send it by hand.
        pair = login_cookie.split(";")[0]
        http.cookies.clear()
        response = http.post(
            "/login",
            data={"csrf_token": csrf_of(form.text), "username": "viewer", "password": PASSWORD,
                  "next": "/"},
            headers={"Origin": "https://" + server.url.removeprefix("http://"), "Cookie": pair},
        )  # fmt: skip
    assert response.status_code == 303, response.text
    cookie = next(h for h in response.headers.get_list("set-cookie")
                  if "inventar_session=" in h)  # fmt: skip
    assert cookie.startswith("__Host-inventar_session=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(flags)
    assert not any(f.startswith("domain=") for f in flags)


def test_idle_and_absolute_timeouts_end_a_session(client: Client) -> None:
    client.login()
    assert client.http.get("/hosts", follow_redirects=False).status_code == 200
    sessions = table_of(WebSession)
    now = dt.datetime.now(dt.UTC)
    with client.db.engine.begin() as conn:
        conn.execute(sa.update(sessions).values(last_seen_at=now - dt.timedelta(minutes=31)))
    idle = client.http.get("/hosts", follow_redirects=False)
    assert idle.status_code == 303 and idle.headers["location"] == "/login?next=%2Fhosts"
    client.login()
    with client.db.engine.begin() as conn:
        conn.execute(sa.update(sessions).values(created_at=now - dt.timedelta(hours=12, minutes=1)))
    assert client.http.get("/", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(client: Client) -> None:
    client.login()
    cookie = client.http.cookies.get("inventar_session")
    page = client.http.get("/")
    out = client.http.post("/logout", data={"csrf_token": csrf_of(page.text)},
                           follow_redirects=False)  # fmt: skip
    assert out.status_code == 303
    client.http.cookies.set("inventar_session", cookie)  # a copy of the old cookie
    assert client.http.get("/", follow_redirects=False).status_code == 303


def test_a_planner_sees_the_overview_without_host_lists(client: Client) -> None:
    client.login("planner")
    overview = client.http.get("/")
    assert overview.status_code == 200 and 'href="/hosts?' not in overview.text
    for path in ("/hosts", "/hosts.csv", f"/hosts/{client.fleet.hosts['gsn-lehrer-01']}",
                 "/findings", "/devices"):  # fmt: skip
        assert client.http.get(path).status_code == 403, path


def test_login_redirects_only_to_this_site(client: Client) -> None:
    form = client.http.get("/login?next=//evil.example/x")
    response = client.http.post(
        "/login",
        data={"csrf_token": csrf_of(form.text), "username": "admin", "password": PASSWORD,
              "next": "https://evil.example/"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.headers["location"] == "/"


def test_every_page_sends_the_security_headers(client: Client) -> None:
    def check(response: httpx.Response) -> None:
        csp = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert directives["script-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"

    check(client.http.get("/login"))
    client.login()
    host = client.fleet.hosts["gsn-lehrer-01"]
    for path in [*PAGES, f"/hosts/{host}", "/hosts/999999", "/hosts.csv"]:
        response = client.http.get(path)
        check(response)
    # The JSON API keeps its answers (and /docs its inline scripts).
    assert "content-security-policy" not in client.http.get("/healthz").headers


def test_pages_have_no_inline_script_or_event_handler(client: Client) -> None:
    client.login()
    host = client.fleet.hosts["gsn-lehrer-01"]
    for path in [*PAGES, f"/hosts/{host}"]:
        html = client.http.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert "style=" not in html, path


def test_bad_list_parameters_are_a_clear_400(client: Client) -> None:
    client.login()
    response = client.http.get("/hosts?silent=abc")
    assert response.status_code == 400 and "silent" in response.text
    assert client.http.get("/hosts?severity=urgent").status_code == 400
    assert client.http.get("/hosts?per_page=100000").status_code == 400


def test_the_csv_export_is_the_filtered_list_with_neutralised_fields(client: Client) -> None:
    client.login()
    with client.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE hosts SET model = '=HYPERLINK(\"x\")' WHERE hostname = 'gsn-klasse-01'")
        )
    path = "/hosts?site=Grundschule+Nord&severity=critical&severity=high"
    listed = client.http.get(path).text
    names = re.findall(r'<a href="/hosts/\d+">([^<]+)</a>', listed)
    exported = client.http.get(path.replace("/hosts?", "/hosts.csv?"))
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["hostname"] for r in rows) == sorted(names) and names
    assert all(r["site"] == "Grundschule Nord" for r in rows)
    model = next(r["model"] for r in rows if r["hostname"] == "gsn-klasse-01")
    assert model.startswith("'=")
