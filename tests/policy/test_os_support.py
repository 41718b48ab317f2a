"""OS support data (policies/data/os_support.yaml) and where a release stands in it (issue 21).

Crafted hosts with `os` sections as the agent reports them (Windows: systeminfo's OS name,
"10.0.19044"-style version, CurrentBuild.UBR; Linux: os-release NAME and VERSION_ID, Debian's
point release as build; macOS: sw_vers), evaluated with the shipped packs as of 2026-12-06.
The expected end dates were read off the vendors' pages named in the data file, not off
the code's output.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.parsers.systeminfo import parse_systeminfo
from collector.policy import PolicySet
from collector.policy.cli import main, months_before
from collector.policy.derive import derive
from collector.policy.facts import place_os, section_facts
from collector.policy.loader import PolicyLoadError
from collector.policy.reference import CLIENT_GROUP, NamedRelease, WindowsRelease
from tests.policy.helpers import POLICIES_DIR, base_report, make, run, windows10_laptop

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "windows-outputs"
CHECK = "sec.os.supported"


def _win(name: str, version: str, build: str, edition: str | None, display: str | None) -> dict:
    return {"family": "windows", "name": name, "version": version, "build": build,
            "edition": edition, "display_version": display, "arch": "x86_64"}  # fmt: skip


def _linux(name: str, version: str, build: str | None = None) -> dict:
    return {"family": "linux", "name": name, "version": version, "build": build,
            "kernel": "4.15.0-213-generic", "arch": "x86_64"}  # fmt: skip


def _mac(name: str, version: str, build: str) -> dict:
    return {"family": "darwin", "name": name, "version": version, "build": build,
            "kernel": "19.6.0", "arch": "x86_64"}  # fmt: skip


def _report(os_info: dict[str, Any]) -> dict[str, Any]:
    base = windows10_laptop() if os_info["family"] == "windows" else base_report()
    return make({"os": os_info}, base)


# (host, os section, status, what the message says) - the last day of vendor support is in
# the message of a failing listed release.
DONE_WHEN = [
    ("Windows XP", _win("Microsoft Windows XP Professional", "5.1.2600", "2600", None, None),
     "fail", "Windows XP SP3: vendor support ended 4625 days ago"),
    ("Windows 7", _win("Microsoft Windows 7 Professional", "6.1.7601", "7601", None, None),
     "fail", "Windows 7 SP1: vendor support ended 2518 days ago"),
    ("Windows 8.1", _win("Microsoft Windows 8.1 Pro", "6.3.9600", "9600", "Pro", None),
     "fail", "Windows 8.1 RTM: vendor support ended 1426 days ago"),
    ("Windows 10 21H2 Home",
     _win("Microsoft Windows 10 Home", "10.0.19044", "19044.3086", "Home", "21H2"),
     "fail", "Windows 10 21H2 (home_pro): vendor support ended 1272 days ago"),
    ("Server 2012 R2",
     _win("Microsoft Windows Server 2012 R2 Standard", "6.3.9600", "9600", None, None),
     "fail", "Windows Server 2012 R2 RTM (server): vendor support ended 1153 days ago"),
    ("Ubuntu 16.04", _linux("Ubuntu", "16.04"),
     "fail", "Ubuntu 16.04 LTS xenial: vendor support ended 2046 days ago"),
    ("Ubuntu 18.04", _linux("Ubuntu", "18.04"),
     "fail", "Ubuntu 18.04 LTS bionic: vendor support ended 1285 days ago"),
    ("Debian 9", _linux("Debian GNU/Linux", "9", "9.13"),
     "fail", "Debian 9 stretch: vendor support ended 1620 days ago"),
    ("Debian 10", _linux("Debian GNU/Linux", "10", "10.13"),
     "fail", "Debian 10 buster: vendor support ended 889 days ago"),
    ("CentOS 7", _linux("CentOS Linux", "7"),
     "fail", "CentOS Linux 7: vendor support ended 889 days ago"),
    ("macOS 10.15", _mac("Mac OS X", "10.15.7", "19H2026"),
     "fail", "macOS 10.15 Catalina: vendor support ended 1504 days ago"),
    ("Windows 11 24H2 Enterprise",
     _win("Microsoft Windows 11 Enterprise", "10.0.26100", "26100.2605", "Enterprise", "24H2"),
     "pass", None),
    ("Debian 12", _linux("Debian GNU/Linux", "12", "12.12"), "pass", None),
    ("Ubuntu 24.04", _linux("Ubuntu", "24.04"), "pass", None),
    # Invented future releases: unknown, and the data needs an update.
    ("Ubuntu 40.04", _linux("Ubuntu", "40.04"), "unknown",
     "Ubuntu 40.04 is newer than every Ubuntu release in policies/data/os_support.yaml "
     "(updated 2026-12-06; the newest listed is Ubuntu 26.04 LTS resolute): "
     "the OS support data needs an update"),
    ("Windows build 99999",
     _win("Microsoft Windows 11 Pro", "10.0.99999", "99999.1", "Pro", "35H2"), "unknown",
     "build 99999 is newer than every Windows (home_pro) release in "
     "policies/data/os_support.yaml (updated 2026-12-06; the newest listed is Windows 11 "
     "25H2 (home_pro)): the OS support data needs an update"),
    ("macOS 99", _mac("macOS", "99.0", "99A1"), "unknown",
     "macOS 99.0 is newer than every macOS release in policies/data/os_support.yaml "
     "(updated 2026-12-06; the newest listed is macOS 26 Tahoe): the OS support data "
     "needs an update"),
    # Older than every listed release of its line: unsupported.
    ("Debian 3", _linux("Debian GNU/Linux", "3.1", "3.1"), "fail",
     "Debian GNU/Linux 3.1 is older than every Debian release in policies/data/os_support.yaml "
     "(the oldest listed is Debian 6 squeeze): it no longer receives vendor security updates"),
    ("Windows 2000", _win("Microsoft Windows 2000 Professional", "5.0.2195", "2195", None, None),
     "fail", "Microsoft Windows 2000 Professional, build 2195 is older than every Windows "
     "(home_pro) release in policies/data/os_support.yaml (the oldest listed is Windows XP "
     "SP3)"),
    ("Windows NT 4 Server",
     _win("Microsoft Windows NT Server", "4.0.1381", "1381", None, None),
     "fail", "is older than every Windows (server) release"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("os_info", "status", "says"),
    [pytest.param(o, s, m, id=h) for h, o, s, m in DONE_WHEN],
)
def test_done_when(policies: PolicySet, os_info: dict, status: str, says: str | None) -> None:
    result = run(policies, _report(os_info), CHECK, now=NOW)
    assert result.status == status, result.message
    if says is not None:
        assert says in result.message


def test_day_counts_were_checked_by_hand() -> None:
    # The "ended N days ago" above: 2026-12-06 minus the vendor's last day.
    assert (NOW.date() - dt.date(2014, 4, 8)).days == 4625  # XP SP3
    assert (NOW.date() - dt.date(2023, 6, 13)).days == 1272  # 10 21H2 Home/Pro
    assert (NOW.date() - dt.date(2024, 6, 30)).days == 889  # Debian 10 LTS, CentOS 7


def test_real_windows7_systeminfo(policies: PolicySet) -> None:
    """The German systeminfo of a Windows 7 Ultimate N PC (an edition in no group: it gets
    the date every Windows 7 SP1 edition shares)."""
    si = parse_systeminfo(
        (FIXTURES / "systeminfo-de-win7-lenovo-42902bg.txt").read_text(encoding="utf-8")
    )
    os_info = _win(str(si.get("os_name")), str(si.version), str(si.build), None, None)
    assert os_info["name"].startswith("Microsoft Windows 7 Ultimate")
    result = run(policies, _report(os_info), CHECK, now=NOW)
    assert (result.status, result.message) == (
        "fail", "Windows 7 SP1: vendor support ended 2518 days ago"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("os_info", "release", "end"),
    [
        # The agent takes "Enterprise" from the name; "Server" and "LTSC" decide.
        (_win("Microsoft Windows Server 2008 R2 Enterprise", "6.1.7601", "7601", "Enterprise",
              None), "Windows Server 2008 R2 SP1 (server)", "2020-01-14"),
        (_win("Microsoft Windows 10 Enterprise LTSC", "10.0.17763", "17763.6414", "Enterprise",
              "1809"), "Windows 10 Enterprise LTSC 2019 (ltsc)", "2029-01-09"),
        (_win("Microsoft Windows 10 IoT Enterprise LTSC", "10.0.19044", "19044.5011", "IoT",
              "21H2"), "Windows 10 IoT Enterprise LTSC 2021 (iot_ltsc)", "2032-01-13"),
        (_win("Microsoft Windows 10 Enterprise", "10.0.17763", "17763.6414", "Enterprise",
              "1809"), "Windows 10 1809 (enterprise_education)", "2021-05-11"),
        (_win("Microsoft Windows Server 2019 Datacenter", "10.0.17763", "17763.6414", None,
              None), "Windows Server 2019 LTSC (server)", "2029-01-09"),
        # Server 2008 SP2 reports build 6003 since its 2019 updates.
        (_win("Microsoft Windows Server 2008 Standard", "6.0.6003", "6003", None, None),
         "Windows Server 2008 SP2 (build 6003) (server)", "2020-01-14"),
        ({"family": "linux", "name": "SLES", "version": "15.6"}, "SLES 15 SP6", "2025-12-17"),
        ({"family": "linux", "name": "SLES", "version": "15.7"}, "SLES 15 SP7", "2031-07-31"),
        ({"family": "linux", "name": "openSUSE Leap", "version": "42.3"}, "openSUSE Leap 42.3",
         "2019-07-01"),
        ({"family": "linux", "name": "Oracle Linux Server", "version": "7.9"}, "Oracle Linux 7",
         "2024-12-31"),
        ({"family": "linux", "name": "AlmaLinux", "version": "8.10"}, "AlmaLinux OS 8",
         "2029-03-01"),
        ({"family": "linux", "name": "Fedora Linux", "version": "41"}, "Fedora 41",
         "2025-11-19"),
        ({"family": "darwin", "name": "Mac OS X", "version": "10.6.8"},
         "Mac OS X 10.6 Snow Leopard", "2013-10-22"),
        ({"family": "darwin", "name": "macOS", "version": "11.7.10"}, "macOS 11 Big Sur",
         "2023-09-26"),
    ],
)  # fmt: skip
def test_release_matched(policies: PolicySet, os_info: dict, release: str, end: str) -> None:
    facts = derive(_report(os_info) if "arch" in os_info else {"os": os_info},
                   policies.reference, NOW)  # fmt: skip
    assert facts["os_support_status"] == "listed"
    assert facts["os_support_release"] == release
    assert facts["os_support_end"].date() == dt.date.fromisoformat(end)


@pytest.mark.parametrize(
    ("os_info", "status", "line"),
    [
        # Leap 42.x came before 15.0: 15.7 lies between listed releases, 16.1 after them.
        ({"family": "linux", "name": "openSUSE Leap", "version": "15.7"}, "unlisted",
         "openSUSE Leap"),
        ({"family": "linux", "name": "openSUSE Leap", "version": "16.1"}, "newer-than-data",
         "openSUSE Leap"),
        ({"family": "linux", "name": "SLES", "version": "16.0"}, "newer-than-data",
         "SUSE Linux Enterprise Server"),
        ({"family": "linux", "name": "SLES", "version": "10.4"}, "older-than-data",
         "SUSE Linux Enterprise Server"),
        ({"family": "darwin", "name": "Mac OS X", "version": "10.5.8"}, "older-than-data",
         "macOS"),
        ({"family": "linux", "name": "Debian GNU/Linux", "version": "14"}, "newer-than-data",
         "Debian"),
        ({"family": "linux", "name": "Red Hat Enterprise Linux Server", "version": "3.9"},
         "older-than-data", "Red Hat Enterprise Linux"),
        ({"family": "linux", "name": "Gentoo", "version": "2.17"}, "unlisted", None),
        ({"family": "linux", "name": "Ubuntu", "version": "24.04.1"}, "unlisted", "Ubuntu"),
        # Windows: an insider build between releases; an edition unknown but older than
        # every Windows; a client of unknown edition from Windows 10 on (edition decides).
        (_win("Microsoft Windows 11 Pro", "10.0.25000", "25000.1", "Pro", None), "unlisted",
         "Windows (home_pro)"),
        ({"family": "windows", "name": None, "build": "2195"}, "older-than-data", "Windows"),
        ({"family": "windows", "name": "Windows 10", "build": "19045"}, None, None),
        ({"family": "linux", "name": "Ubuntu", "version": None}, None, None),
    ],
)  # fmt: skip
def test_standing(policies: PolicySet, os_info: dict, status: str | None, line: str | None) -> None:
    placed = place_os(os_info, policies.reference)
    assert (placed.status, placed.line, placed.entry) == (status, line, None)


def test_every_listed_release_is_found_by_its_own_version(policies: PolicySet) -> None:
    """No two entries of a line and group can be confused: each entry's own version (or
    build) places a host on exactly that entry, through the matching the collector uses."""
    support = policies.reference.os_support
    names = {
        "home_pro": "Microsoft Windows 10 Pro",
        "enterprise_education": "Microsoft Windows 10 Enterprise",
        "ltsc": "Microsoft Windows 10 Enterprise LTSC",
        "iot_ltsc": "Microsoft Windows 10 IoT Enterprise LTSC",
        "server": "Microsoft Windows Server Standard",
        CLIENT_GROUP: "Microsoft Windows 7 Ultimate",
    }
    assert set(names) == set(support.windows_edition_groups) | {CLIENT_GROUP}
    for win in support.windows:
        os_info = {"family": "windows", "name": names[win.group], "build": str(win.build)}
        assert place_os(os_info, policies.reference).entry is win, win
    for family in ("linux", "darwin"):
        for line, entries in support.named_lines(family).items():
            orders = [e.order for e in entries]
            assert orders == sorted(set(orders)), line
            for named in entries:
                os_info = {"family": family, "name": named.names[0], "version": named.version}
                placed = place_os(os_info, policies.reference)
                assert (placed.entry, placed.line) == (named, line)


def test_every_entry_has_a_source_and_a_date(policies: PolicySet) -> None:
    support = policies.reference.os_support
    entries: list[WindowsRelease | NamedRelease] = [
        *support.windows,
        *support.linux,
        *support.darwin,
    ]
    assert len(entries) > 200
    for entry in entries:
        assert entry.source.startswith("http") or "practice" in entry.source, entry
        assert isinstance(entry.end, dt.date) and dt.date(2009, 1, 1) < entry.end, entry
        if entry.estimated:
            # An estimate says how it was reached, beyond naming a page.
            assert " " in entry.source.strip(), entry
    assert isinstance(support.updated, dt.date)


def test_product_lines_cover_the_issue(policies: PolicySet) -> None:
    support = policies.reference.os_support
    lines = {
        line: [e.version for e in entries]
        for family in ("linux", "darwin")
        for line, entries in support.named_lines(family).items()
    }
    assert lines["Debian"][0] == "6" and lines["Ubuntu"][0] == "10.04"
    assert lines["Fedora"][0] == "13" and lines["macOS"][0] == "10.6"
    assert {"11.4", "12.5", "15.7"} <= set(lines["SUSE Linux Enterprise Server"])
    assert {"42.1", "15.6", "16.0"} <= set(lines["openSUSE Leap"])
    assert {"Red Hat Enterprise Linux", "Rocky Linux", "AlmaLinux", "CentOS Linux",
            "CentOS Stream", "Oracle Linux"} <= set(lines)  # fmt: skip
    server = {e.build for e in support.windows_line("server")}
    assert {3790, 6002, 7601, 9200, 9600, 14393, 17763, 20348, 26100} <= server
    client = {e.build for e in support.windows_line("home_pro")}
    assert {2600, 6002, 7601, 9200, 9600, 10240, 19045, 22000, 26200} <= client


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, target, ignore=shutil.ignore_patterns("*.md"))
    return target


def _edit(packs: Path, old: str, new: str) -> None:
    path = packs / "data" / "os_support.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        # A second Ubuntu 24.04: a reported 24.04 would match two releases.
        ('  - {line: Ubuntu, names: [ubuntu], version: "24.10"',
         '  - {line: Ubuntu, names: [ubuntu], version: "24.04", label: again, end: 2030-01-01,'
         ' source: x}\n  - {line: Ubuntu, names: [ubuntu], version: "24.10"',
         "matches both"),
        # A major entry that swallows the 10.x minor ones.
        ('version: "11", match: major', 'version: "10", match: major', "matches both"),
        ("build: 9600, group: client", "build: 7601, group: client", "listed twice"),
        ("updated: 2026-12-06\n", "", "updated"),
        # PyYAML's ValueError for a date that does not exist, as a clear error.
        ("updated: 2026-12-06", "updated: 2026-13-06", "invalid YAML: month must be in 1..12"),
        ("group: server, end: 2034-10-10", "group: servers, end: 2034-10-10", "unknown group"),
    ],
)  # fmt: skip
def test_bad_data_is_refused_at_load(tmp_path: Path, old: str, new: str, error: str) -> None:
    packs = _copy(tmp_path)
    _edit(packs, old, new)
    with pytest.raises(PolicyLoadError) as exc:
        PolicySet.load(packs)
    assert "os_support.yaml" in str(exc.value) and error in str(exc.value)


def test_stored_facts_say_the_same(policies: PolicySet) -> None:
    """The collector passes the host's stored facts (computed at ingest); the checks see the
    same standing and reason as `policy eval` computing them from the report."""
    report = _report(_linux("Ubuntu", "40.04"))
    stored = section_facts("os", report["os"], policies.reference)
    assert (stored["os_support_status"], stored["os_support_line"]) == (
        "newer-than-data", "Ubuntu"
    )  # fmt: skip
    from_report = derive(report, policies.reference, NOW)
    from_stored = derive(report, policies.reference, NOW, stored=stored)
    keys = [k for k in from_report if k.startswith("os_support")]
    assert {k: from_stored[k] for k in keys} == {k: from_report[k] for k in keys}
    assert from_stored["os_support_newest"] == "Ubuntu 26.04 LTS resolute"
    assert from_stored["os_support_data_updated"] == "2026-12-06"


def test_support_ending_does_not_apply_to_a_release_older_than_the_data(
    policies: PolicySet,
) -> None:
    report = _report(_linux("Debian GNU/Linux", "3.1"))
    assert run(policies, report, "sec.os.support-ending", now=NOW).status == "not-applicable"


def test_check_prints_the_data_date_and_warns_when_old(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packs = _copy(tmp_path)
    today = dt.datetime.now(dt.UTC).date()
    _edit(packs, "updated: 2026-12-06", f"updated: {today.isoformat()}")
    assert main(["check", str(packs)]) == 0
    out = capsys.readouterr()
    assert f"OS support data policies/data/os_support.yaml: updated {today}" in out.out
    assert "warning" not in out.err
    old = months_before(today, 6) - dt.timedelta(days=1)
    _edit(packs, f"updated: {today.isoformat()}", f"updated: {old.isoformat()}")
    assert main(["check", str(packs)]) == 0  # a warning, not a problem
    out = capsys.readouterr()
    assert f"updated {old}" in out.out
    assert f"warning: policies/data/os_support.yaml was last updated {old}" in out.err
    assert "more than 6 months ago" in out.err


def test_months_before() -> None:
    assert months_before(dt.date(2026, 12, 6), 6) == dt.date(2026, 6, 6)
    assert months_before(dt.date(2026, 8, 31), 6) == dt.date(2026, 2, 28)
    assert months_before(dt.date(2026, 3, 15), 6) == dt.date(2025, 9, 15)
