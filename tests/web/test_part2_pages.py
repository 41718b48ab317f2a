"""The pages of part 2 against the demo fleet: the budget page gives what the API gives, the
coverage numbers are the lengths of their drill-downs, the ergonomics and WLAN lists are the
hosts the findings and the hosts list name, administration works (what is shown once works,
the SSH host key is recorded only as confirmed) and is closed to everyone else."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from collector.models import AuditEntry, Finding, Host, Site, SshTarget, WaiverRecord
from collector.policy import PolicySet
from collector.services import enroll
from collector.settings import SHIPPED_POLICIES
from tests.integration.test_ssh import Sshd, sshd  # noqa: F401  (the fixture)
from tests.web.conftest import Client, csrf_of


def _links(html: str, pattern: str) -> list[tuple[str, int]]:
    """(href, number) of the links whose href matches ``pattern``."""
    found = re.findall(r'<a href="(' + pattern + r'[^"]*)">(\d+)<', html)
    return [(href.replace("&amp;", "&"), int(n)) for href, n in found]


def test_the_budget_page_shows_what_the_api_gives(client: Client) -> None:
    from collector.services import create_api_token

    with client.db.session() as s:
        token = create_api_token(s, "planner", "Kämmerei", "Musterstadt")
    year = dt.datetime.now(dt.UTC).year
    api = client.http.get(
        f"/api/v1/budget?from_year={year}&years=5&replace_after=laptop=5",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert client.login("planner").status_code == 303
    page = client.http.get(f"/budget?from_year={year}&years=5&cycle_laptop=5").text
    cost = re.search(r'id="budget-total" data-cost="([0-9.]+)" data-count="(\d+)"', page)
    assert cost is not None
    assert float(cost[1]) == api["totals"]["cost_eur"] and int(cost[2]) == api["totals"]["count"]
    assert api["totals"]["count"] > 0
    for row in api["totals"]["by_year"]:
        assert f'data-year-total="{row["cost_eur"]:.2f}"' in page
    # A planner sees no host names, here as in the API.
    assert "gsn-lehrer" not in page and "rh-verw" not in page
    bad = client.http.get("/budget?cycle_laptop=99")
    assert bad.status_code == 400 and "cycle_laptop" in bad.text
    assert client.http.get("/budget?site=Gymnasium+Ost").status_code == 400  # not theirs


def test_every_coverage_number_is_the_length_of_its_drill_down(client: Client) -> None:
    assert client.login("viewer").status_code == 303
    page = client.http.get("/compliance").text
    links = _links(page, "/compliance/detail")
    assert len(links) > 10
    assert any("verdict=fail" in href for href, _ in links)
    assert "Gymnasium Ost" not in page  # another organization's site
    for href, number in links:
        detail = client.http.get(href).text
        verdict = re.search(r"verdict=(\w+)", href)
        assert verdict is not None
        rows = re.findall(r'<tr data-verdict="(\w+)">', detail)
        assert len(rows) == number and set(rows) == {verdict[1]}, href


def test_the_coverage_export_carries_the_date_and_the_packs_digest(client: Client) -> None:
    assert client.login().status_code == 303
    response = client.http.get("/compliance.csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    digest = PolicySet.load(SHIPPED_POLICIES).digest
    assert rows and {r["pack_digest"] for r in rows} == {digest}
    stamp = dt.datetime.fromisoformat(rows[0]["generated_at"])
    assert abs((dt.datetime.now(dt.UTC) - stamp).total_seconds()) < 120
    page = client.http.get("/compliance").text
    for row in (r for r in rows if r["site"] == "Grundschule Nord"):
        counts = [int(row[v]) for v in ("pass", "fail", "unknown", "waived")]
        assert sum(counts) > 0
        assert f'data-ref="{row["requirement"]}"' in page
    # The same numbers as the findings: a host fails a requirement when one of its checks
    # fails; BSI SYS.3.1.A3 is cited by sec.firewall alone.
    with client.db.session() as s:
        nord = s.exec(select(Site).where(Site.name == "Grundschule Nord")).one()
        failing = set(s.exec(
            select(Finding.host_id).join(Host, col(Host.id) == col(Finding.host_id)).where(
                Finding.check_id == "sec.firewall", Finding.status == "fail",
                col(Finding.resolved_at).is_(None), Host.site_id == nord.id)))  # fmt: skip
    a3 = next(r for r in rows if r["site"] == "Grundschule Nord"
              and r["requirement"] == "BSI SYS.3.1.A3")  # fmt: skip
    assert int(a3["fail"]) == len(failing) > 0


def test_ergonomics_lists_failing_workplaces_and_planners_see_numbers_only(client: Client):
    with client.db.session() as s:
        expected = set(s.exec(
            select(Host.hostname).join(Finding, col(Finding.host_id) == col(Host.id)).where(
                Host.role == "workplace", Finding.status == "fail",
                col(Finding.resolved_at).is_(None),
                sa.or_(col(Finding.category) == "ergonomics",
                       col(Finding.check_id) == "life.device.age"))))  # fmt: skip
    assert expected  # the fleet's office notebooks are past their cycle
    assert client.login("admin").status_code == 303
    page = client.http.get("/ergonomics").text
    listed = set(re.findall(r'<a href="/hosts/\d+">([^<]+)</a>', page))
    assert listed == expected
    exported = list(csv.DictReader(io.StringIO(client.http.get("/ergonomics.csv").text)))
    assert {r["hostname"] for r in exported} == expected
    assert all(float(r["cost_eur"]) > 0 for r in exported)  # each buys a notebook
    assert client.login("planner").status_code == 303
    planner = client.http.get("/ergonomics")
    assert planner.status_code == 200 and "Arbeitsplätze mit Mängeln" in planner.text
    assert not any(name in planner.text for name in expected)
    assert client.http.get("/ergonomics.csv").status_code == 403


def test_wlan_lists_the_hosts_the_hosts_list_counts(client: Client) -> None:
    assert client.login().status_code == 303
    page = client.http.get("/wlan").text
    listed = re.findall(r'<tr><td><a href="/hosts/(\d+)">', page.split('id="insecure"')[1]
                        .split("</table>")[0]) if 'id="insecure"' in page else []  # fmt: skip
    hosts = client.http.get("/hosts?wlan=insecure&per_page=200").text
    assert len(set(listed)) == len(re.findall(r'<tr[^>]*>\s*<td[^>]*><a href="/hosts/\d+"',
                                              hosts))  # fmt: skip
    assert "Grundschule Nord" in page


ADMIN_PAGES = ["/admin/sites", "/admin/secrets", "/admin/agents", "/admin/people",
               "/admin/tokens", "/admin/ssh"]  # fmt: skip


def test_administration_is_for_admins_of_every_organization(client: Client) -> None:
    for user in ("viewer", "planner", "dsb", "nachbar"):
        assert client.login(user).status_code == 303
        for path in ADMIN_PAGES:
            assert client.http.get(path).status_code == 403, (user, path)
        token = csrf_of(client.http.get("/account").text)
        refused = client.http.post("/admin/orgs", data={"csrf_token": token, "name": "X"})
        assert refused.status_code == 403
    # An organization's admin manages that organization's waivers only.
    page = client.http.get("/admin/waivers")
    assert page.status_code == 200 and "Wartungsfenster" not in page.text
    assert client.login("admin").status_code == 303
    assert "Wartungsfenster der Fachanwendung" in client.http.get("/admin/waivers").text


def test_waivers_ending_within_14_days_come_first(client: Client) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with client.db.session() as s:
        host = client.fleet.hosts["gsn-lehrer-02"]
        s.add(WaiverRecord(check_id="sec.firewall", host_id=host, reason="bald",
                           until=today + dt.timedelta(days=5)))  # fmt: skip
        s.add(WaiverRecord(check_id="sec.screenlock", host_id=host, reason="später",
                           until=today + dt.timedelta(days=300)))  # fmt: skip
        s.commit()
    assert client.login().status_code == 303
    days = re.findall(r'data-until="([0-9-]+)"', client.http.get("/admin/waivers").text)
    assert days[0] == (today + dt.timedelta(days=5)).isoformat()
    assert days[1:] == sorted(days[1:])


def test_what_is_shown_once_works(client: Client) -> None:
    assert client.login().status_code == 303
    token_page = client.http.post("/admin/tokens", data={
        "csrf_token": csrf_of(client.http.get("/admin/tokens").text), "role": "viewer",
        "name": "Skript", "org": "Musterstadt", "expires": "90d"})  # fmt: skip
    token = re.search(r'id="shown-token">([^<]+)<', token_page.text)
    assert token is not None
    sites = client.http.get("/api/v1/sites", headers={"Authorization": f"Bearer {token[1]}"})
    assert sites.status_code == 200 and "Gymnasium Ost" not in sites.text
    assert token[1] not in client.http.get("/admin/tokens").text  # never again
    secret_page = client.http.post("/admin/secrets", data={
        "csrf_token": csrf_of(client.http.get("/admin/secrets").text),
        "site": "Kita Sonnenschein", "max_uses": "1"})  # fmt: skip
    secret = re.search(r'id="shown-secret">([^<]+)<', secret_page.text)
    assert secret is not None
    with client.db.session() as s:
        assert enroll(s, secret[1], "new-machine", "kita-neu").site == "Kita Sonnenschein"
    people = client.http.post("/admin/people", data={
        "csrf_token": csrf_of(client.http.get("/admin/people").text), "name": "erika",
        "role": "planner", "org": "Musterstadt", "password": ""})  # fmt: skip
    password = re.search(r'id="shown-password">([^<]+)<', people.text)
    assert password is not None
    assert client.login("erika", password[1]).status_code == 303


def test_an_ssh_target_is_added_only_with_the_confirmed_host_key(
    client: Client,
    sshd: Sshd,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    known = tmp_path / "known_hosts"
    monkeypatch.setenv("INVENTAR_SSH_KNOWN_HOSTS", str(known))
    assert client.login().status_code == 303
    form = {"host": "127.0.0.1", "port": str(sshd.port), "user": "root", "auth": "key",
            "secret": str(sshd.user_key), "site": "Rathaus Musterstadt",
            "role": "server"}  # fmt: skip
    check = client.http.post("/admin/ssh/check", data={
        "csrf_token": csrf_of(client.http.get("/admin/ssh").text), **form})  # fmt: skip
    assert check.status_code == 200
    shown = re.search(r'id="ssh-fingerprint">([^<]+)<', check.text)
    assert shown is not None and shown[1] == sshd.fingerprint()  # what ssh-keygen -lf says
    assert not known.exists()  # nothing recorded before the confirmation
    token = csrf_of(check.text)
    wrong = client.http.post("/admin/ssh", data={
        "csrf_token": token, **form, "fingerprint": "SHA256:" + "A" * 43})  # fmt: skip
    assert wrong.status_code == 400 and "refusing to trust" in wrong.text
    with client.db.session() as s:
        assert s.exec(select(SshTarget)).first() is None
    assert not known.exists() or sshd.fingerprint() not in known.read_text()
    added = client.http.post("/admin/ssh", data={"csrf_token": token, **form,
                                                 "fingerprint": shown[1]},
                             follow_redirects=False)  # fmt: skip
    assert added.status_code == 303, added.text
    assert sshd.host_pub.read_text().split()[1] in known.read_text()
    with client.db.session() as s:
        target = s.exec(select(SshTarget)).one()
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "ssh.add")).one()
    assert target.key_file == str(sshd.user_key) and entry.actor == "user:admin"
    removed = client.http.post(f"/admin/ssh/{target.id}/remove", data={"csrf_token": token},
                               follow_redirects=False)  # fmt: skip
    assert removed.status_code == 303
    with client.db.session() as s:
        assert s.exec(select(SshTarget)).first() is None
        assert s.exec(select(AuditEntry).where(AuditEntry.action == "ssh.remove")).one()
