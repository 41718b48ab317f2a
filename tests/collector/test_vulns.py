"""Known vulnerabilities on real feed data (../shared/corpus/vulns, README there gives the
sources): Debian's tracker, Ubuntu's OSV records with ESM ranges, MSRC's data as wesng ships
it, CISA KEV and EPSS; Windows hosts from real systeminfo outputs
(../shared/corpus/windows/wesng-validation). Every expected value below was read by hand
from those files (the file and entry are named beside it)."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.parsers.systeminfo import parse_systeminfo
from collector.models import VulnFeed, table_of
from collector.vuln_rows import host_vuln_rows
from collector.vulns.feeds import Parsed, parse, parse_files
from collector.vulns.importer import import_feed, read_source, store
from collector.vulns.matching import rematch
from tests.collector.conftest import Env
from tests.collector.helpers import make_report

CORPUS = Path(__file__).parents[3] / "shared" / "corpus"
VULNS = CORPUS / "vulns"
WESNG = CORPUS / "windows" / "wesng-validation"

if not VULNS.is_dir():  # pragma: no cover - the corpus is part of the machine's setup
    pytest.skip(f"no corpus at {VULNS}", allow_module_level=True)


def _deb_report(
    machine: str,
    codename: str,
    packages: list[tuple[str, str]],
    *,
    pro: bool | None = None,
    name: str = "Debian GNU/Linux",
) -> dict[str, Any]:
    os_ = {
        "family": "linux",
        "name": name,
        "version": "x",
        "arch": "x86_64",
        "codename": codename,
        "ubuntu_pro": pro,
    }
    software = [
        {
            "name": source,
            "version": version,
            "publisher": None,
            "source": source,
            "source_version": version,
        }
        for source, version in packages
    ]
    report = make_report(machine, machine, os=os_, software=0)
    report["software"] = software
    return report


def _windows_report(
    machine: str, systeminfo: str, extra_kbs: tuple[str, ...] = ()
) -> dict[str, Any]:
    si = parse_systeminfo((WESNG / systeminfo).read_text(encoding="utf-8", errors="replace"))
    os_ = {
        "family": "windows",
        "name": si.get("os_name"),
        "version": si.version,
        "build": si.build,
        "arch": si.arch,
    }
    patches = {"manager": "windows-update", "installed_kbs": [*si.hotfixes, *extra_kbs]}
    return make_report(machine, machine, os=os_, patches=patches, software=0)


def _host(env: Env, report: dict[str, Any]) -> int:
    _, token = env.enroll(report["host"]["machine_id"])
    r = env.post(token, report)
    assert r.status_code == 201, r.text
    return int(r.json()["host_id"])


def _vulns(env: Env, host_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    r = env.client.get(f"/api/v1/hosts/{host_id}/vulnerabilities", headers=env.auth(env.viewer))
    assert r.status_code == 200, r.text
    return {(i["package"], i["cve"]): i for i in r.json()["items"]}


@functools.cache
def _read(name: str) -> tuple[Parsed, str]:
    """A corpus feed parsed once per test process (wesng's CSV takes seconds)."""
    content, sha256 = read_source(str(VULNS / name))
    if isinstance(content, list):
        return parse_files(content), sha256
    parsed = parse(content, name)
    if parsed.feed == "msrc":
        # Only the product of the test hosts is stored (a host reads only its product's
        # rows; supersedence is kept whole): 8,700 of 231,000 rows keep the tests fast.
        # The whole file's import is benchmarks/vulns.py's.
        parsed.rows = [r for r in parsed.rows if r["product"].startswith("Windows 11 Version 23H2")]
    return parsed, sha256


def _import(env: Env, *names: str) -> None:
    for name in names:
        parsed, sha256 = _read(name)
        store(env.db, parsed, str(VULNS / name), sha256)


def test_backported_debian_fix_is_not_reported_and_one_update_behind_is(env: Env) -> None:
    # debian.json: sope CVE-2025-53603, bookworm resolved in 5.8.0-1+deb12u1 (DSA-5970-1).
    _import(env, "debian-tracker/debian.json")
    patched = _host(env, _deb_report("m-patched", "bookworm", [("sope", "5.8.0-1+deb12u1")]))
    later = _host(env, _deb_report("m-later", "bookworm", [("sope", "5.8.0-1+deb12u2")]))
    behind = _host(env, _deb_report("m-behind", "bookworm", [("sope", "5.8.0-1")]))
    # The same version on bullseye, whose fix is 5.0.1-2+deb11u1: judged by bullseye's entry.
    other = _host(env, _deb_report("m-bullseye", "bullseye", [("sope", "5.0.1-2")]))
    rematch(env.db)
    assert _vulns(env, patched) == {}
    assert _vulns(env, later) == {}
    found = _vulns(env, behind)
    assert list(found) == [("sope", "CVE-2025-53603")]
    item = found[("sope", "CVE-2025-53603")]
    assert (item["installed"], item["fixed"], item["status"]) == (
        "5.8.0-1",
        "5.8.0-1+deb12u1",
        "fix",
    )
    assert _vulns(env, other)[("sope", "CVE-2025-53603")]["fixed"] == "5.0.1-2+deb11u1"


def test_open_is_no_fix_yet_and_fixed_version_zero_is_not_affected(env: Env) -> None:
    _import(env, "debian-tracker/debian.json")
    # chromium CVE-2022-0456: buster "open"; prototypejs CVE-2007-2383: stretch fixed "0"
    # (never affected), CVE-2008-7220: stretch fixed in 1.6.0.2-1.
    buster = _host(
        env, _deb_report("m-buster", "buster", [("chromium", "90.0.4430.212-1~deb10u1")])
    )
    old = _host(env, _deb_report("m-stretch", "stretch", [("prototypejs", "1.6.0.1-1")]))
    new = _host(env, _deb_report("m-stretch2", "stretch", [("prototypejs", "1.7.1-3")]))
    rematch(env.db)
    item = _vulns(env, buster)[("chromium", "CVE-2022-0456")]
    assert (item["status"], item["fixed"]) == ("no-fix", None)
    assert list(_vulns(env, old)) == [("prototypejs", "CVE-2008-7220")]
    assert _vulns(env, new) == {}


def test_ubuntu_esm_ranges_apply_only_with_pro_enabled(env: Env) -> None:
    # UBUNTU-CVE-2022-24823.json: netty on 22.04 only in Ubuntu:Pro:22.04:LTS, fixed in
    # 1:4.1.48-4+deb11u2ubuntu0.1~esm1. UBUNTU-CVE-2021-3782.json: wayland on 22.04 fixed in
    # 1.20.0-1ubuntu0.1 (no subscription needed).
    _import(env, "ubuntu-osv")
    packages = [("netty", "1:4.1.48-4+deb11u2"), ("wayland", "1.20.0-1")]
    without = _host(env, _deb_report("u-1", "jammy", packages, pro=False, name="Ubuntu"))
    unknown = _host(env, _deb_report("u-2", "jammy", packages, pro=None, name="Ubuntu"))
    with_pro = _host(env, _deb_report("u-3", "jammy", packages, pro=True, name="Ubuntu"))
    esm_installed = _host(
        env,
        _deb_report(
            "u-4", "jammy", [("netty", "1:4.1.48-4+deb11u2ubuntu0.1~esm1")], pro=True, name="Ubuntu"
        ),
    )
    rematch(env.db)
    for host in (without, unknown):
        found = _vulns(env, host)
        assert found[("netty", "CVE-2022-24823")]["status"] == "pro"
        assert found[("wayland", "CVE-2021-3782")]["status"] == "fix"
    found = _vulns(env, with_pro)
    netty = found[("netty", "CVE-2022-24823")]
    assert (netty["status"], netty["fixed"]) == ("fix", "1:4.1.48-4+deb11u2ubuntu0.1~esm1")
    assert found[("wayland", "CVE-2021-3782")]["fixed"] == "1.20.0-1ubuntu0.1"
    assert _vulns(env, esm_installed) == {}


def test_windows_11_23h2_one_cumulative_update_behind_is_vulnerable(env: Env) -> None:
    # 11_23H2_x64_enterprise_systeminfo.txt: build 22631, KB5031354 (October 2023's update)
    # among its hotfixes. definitions.zip: CVE-2023-36033 (DWM, in KEV since 2023-11-14) is
    # fixed on "Windows 11 Version 23H2 for x64-based Systems" by KB5032190 (November 2023).
    _import(env, "wesng/definitions.zip", "kev/known_exploited_vulnerabilities.json")
    behind = _host(env, _windows_report("w-behind", "11_23H2_x64_enterprise_systeminfo.txt"))
    fixed = _host(
        env, _windows_report("w-fixed", "11_23H2_x64_enterprise_systeminfo.txt", ("KB5032190",))
    )
    # June 2026's update alone: replaces KB5032190 through its supersedence chain.
    newest = _host(
        env, _windows_report("w-newest", "11_23H2_x64_enterprise_systeminfo.txt", ("KB5093998",))
    )
    rematch(env.db)
    product = "Windows 11 Version 23H2 for x64-based Systems"
    item = _vulns(env, behind)[(product, "CVE-2023-36033")]
    assert (item["fixed"], item["installed"], item["status"]) == ("KB5032190", "22631", "fix")
    assert item["kev"]["date_added"] == "2023-11-14"
    assert item["kev"]["due_date"] == "2023-12-05"
    assert (product, "CVE-2023-36033") not in _vulns(env, fixed)
    assert (product, "CVE-2023-36033") not in _vulns(env, newest)
    # Nothing posted before the newest installed update remains open on that host.
    assert all(i["fixed"] != "KB5032190" for i in _vulns(env, newest).values())


def test_windows_with_unknown_updates_or_product_is_never_vulnerable(env: Env) -> None:
    _import(env, "wesng/definitions.zip")
    report = _windows_report("w-unknown", "11_23H2_x64_enterprise_systeminfo.txt")
    report["patches"]["installed_kbs"] = None
    unknown = _host(env, report)
    report = _windows_report("w-noarch", "11_23H2_x64_enterprise_systeminfo.txt")
    report["os"]["arch"] = None
    no_arch = _host(env, report)
    rematch(env.db)
    assert _vulns(env, unknown) == {}
    assert _vulns(env, no_arch) == {}


def test_fleet_lists_kev_first_grouped_by_fixing_update(env: Env) -> None:
    _import(
        env,
        "wesng/definitions.zip",
        "kev/known_exploited_vulnerabilities.json",
        "debian-tracker/debian.json",
    )
    _host(env, _windows_report("w-1", "11_23H2_x64_enterprise_systeminfo.txt"))
    _host(env, _windows_report("w-2", "11_23H2_x64_enterprise_systeminfo.txt"))
    _host(env, _deb_report("d-1", "bookworm", [("sope", "5.8.0-1")]))
    rematch(env.db)
    r = env.client.get("/api/v1/vulnerabilities?limit=500", headers=env.auth(env.viewer))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["vulnerable_hosts"] == 3
    first = body["items"][0]
    assert first["kev"] and first["hosts"] == 2
    groups = {(g["package"], g["fixed"]): g for g in body["items"]}
    nov = groups[("Windows 11 Version 23H2 for x64-based Systems", "KB5032190")]
    assert {"CVE-2023-36033", "CVE-2023-36036", "CVE-2023-36025"} <= set(nov["kev"])
    assert groups[("sope", "5.8.0-1+deb12u1")]["kev"] == []
    kev_only = env.client.get(
        "/api/v1/vulnerabilities?kev=true&limit=500", headers=env.auth(env.viewer)
    ).json()
    assert all(g["kev"] for g in kev_only["items"])
    assert ("sope", "5.8.0-1+deb12u1") not in {
        (g["package"], g["fixed"]) for g in kev_only["items"]
    }
    assert (
        env.client.get("/api/v1/vulnerabilities?site=%00", headers=env.auth(env.viewer)).status_code
        == 422
    )


def test_rematch_touches_only_what_changed(env: Env) -> None:
    _import(env, "debian-tracker/debian.json")
    a = _host(env, _deb_report("m-a", "bookworm", [("sope", "5.8.0-1")]))
    _host(env, _deb_report("m-b", "bookworm", [("sope", "5.8.0-1")]))
    assert rematch(env.db).hosts_matched == 2
    assert rematch(env.db).hosts_matched == 0
    # KEV and EPSS are joined when read: importing them re-matches nothing.
    _import(env, "kev/known_exploited_vulnerabilities.json", "epss/example-1.csv")
    assert rematch(env.db).hosts_matched == 0
    # One host updates sope: only it is matched again, and its finding is gone.
    _, token = env.agents["m-a"]
    report = _deb_report("m-a", "bookworm", [("sope", "5.8.0-1+deb12u1")])
    assert env.post(token, report).status_code == 201
    stats = rematch(env.db)
    assert stats.matched_ids == [a]
    assert _vulns(env, a) == {}
    # A new package feed re-matches every host.
    _import(env, "ubuntu-osv")
    assert rematch(env.db).hosts_matched == 2
    with env.db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(host_vuln_rows())).scalar() == 1


def test_feeds_record_source_sha256_and_own_date(env: Env) -> None:
    _import(env, "kev/known_exploited_vulnerabilities.json", "debian-tracker/debian.json")
    with env.db.engine.connect() as conn:
        rows = {r.feed: r for r in conn.execute(sa.select(table_of(VulnFeed)))}
    # sha256sum of the corpus file, computed by hand.
    import hashlib

    kev = VULNS / "kev/known_exploited_vulnerabilities.json"
    assert rows["kev"].sha256 == hashlib.sha256(kev.read_bytes()).hexdigest()
    assert rows["kev"].feed_date.isoformat().startswith("2025-08-25T17:04:19")  # dateReleased
    assert rows["kev"].records == 1404  # "count": 1404
    assert rows["debian"].feed_date is None  # the tracker's JSON states no date
    r = env.client.get(
        f"/api/v1/hosts/{_host(env, _deb_report('m-f', 'bookworm', []))}/vulnerabilities",
        headers=env.auth(env.viewer),
    )
    feeds = {f["feed"]: f for f in r.json()["feeds"]}
    assert feeds["kev"]["stale"] is True and feeds["kev"]["age_seconds"] > 7 * 86400


def test_unknown_host_is_404_and_bad_feed_is_refused(env: Env, tmp_path: Path) -> None:
    from collector.vulns.feeds import FeedError

    assert (
        env.client.get(
            "/api/v1/hosts/999999/vulnerabilities", headers=env.auth(env.viewer)
        ).status_code
        == 404
    )
    bad = tmp_path / f"{uuid.uuid4().hex}.json"
    bad.write_text("[1, 2, 3]")
    with pytest.raises(FeedError):
        import_feed(env.db, str(bad))


def test_findings_kev_and_critical_fail_and_a_waiver_covers_them(env: Env) -> None:
    import datetime as dt

    from collector.findings import evaluate_hosts
    from collector.findings.waivers import add_waiver
    from collector.policy import PolicySet
    from collector.policy.cli import default_policies_dir

    policies = PolicySet.load(default_policies_dir())
    before = _host(env, _windows_report("w-f1", "11_23H2_x64_enterprise_systeminfo.txt"))
    _import(env, "wesng/definitions.zip")
    # Not yet matched: the checks are unknown, never pass or fail on no data.
    evaluate_hosts(env.db, [before], policies)

    def status(host: int) -> dict[str, tuple[str, str]]:
        r = env.client.get(f"/api/v1/hosts/{host}/findings", headers=env.auth(env.viewer))
        return {
            f["check"]: (f["status"], f["message"])
            for f in r.json()["items"]
            if f["check"].startswith("sec.vuln.")
        }

    assert {s for s, _ in status(before).values()} == {"unknown"}
    rematch(env.db)
    evaluate_hosts(env.db, [before], policies)
    # Matched, but no KEV catalogue imported: KEV is unknown; critical is known.
    found = status(before)
    assert found["sec.vuln.kev"][0] == "unknown"
    assert found["sec.vuln.critical"][0] == "fail"
    _import(env, "kev/known_exploited_vulnerabilities.json")
    evaluate_hosts(env.db, [before], policies)
    kev_status, message = status(before)["sec.vuln.kev"]
    assert kev_status == "fail"
    assert "exploited in the wild" in message and "CVE-" in message
    with env.db.session() as session:
        add_waiver(
            session,
            check="sec.vuln.kev",
            reason="isolated lab PC",
            policies=policies,
            until=dt.date.today() + dt.timedelta(days=30),
            host_id=before,
        )
    evaluate_hosts(env.db, [before], policies)
    assert status(before)["sec.vuln.kev"][0] == "waived"


def test_metrics_count_vulnerable_hosts_by_site_severity_kev_and_feed_age(env: Env) -> None:
    from tests.collector.test_metrics import value

    _import(
        env,
        "wesng/definitions.zip",
        "kev/known_exploited_vulnerabilities.json",
        "debian-tracker/debian.json",
    )
    _host(env, _windows_report("w-m1", "11_23H2_x64_enterprise_systeminfo.txt"))
    _host(env, _windows_report("w-m2", "11_23H2_x64_enterprise_systeminfo.txt"))
    # debian.json gives sope's CVE-2025-53603 no urgency: severity unknown, not in KEV.
    _host(env, _deb_report("d-m1", "bookworm", [("sope", "5.8.0-1")]))
    _host(env, _deb_report("d-m2", "bookworm", [("sope", "5.8.0-1+deb12u1")]))
    rematch(env.db)
    text = env.client.get("/metrics/inventory").text
    labels = {"site": "GS Nord"}
    # Both Windows hosts miss KB5032190: MSRC rates CVE-2023-36033 "Important" (high), KEV.
    assert value(text, "inventar_vulnerable_hosts", severity="high", kev="true", **labels) == 2
    # Unrated: sope's CVE on d-m1, and on both Windows hosts e.g. CVE-2025-6965 (SQLite, fixed
    # by KB5073455, no severity in MSRC's row); d-m2 has the fix: not counted.
    assert value(text, "inventar_vulnerable_hosts", severity="unknown", kev="false", **labels) == 3
    assert "cve=" not in text  # no per-CVE series
    age = value(text, "inventar_vuln_feed_age_seconds", feed="kev")
    assert age is not None and age > 400 * 86400  # dateReleased 2025-08-25
