"""The patches probe and its parsers (apt, dnf, zypper), on fixtures of real output.

Expected values were read off the fixture files by hand (see their SOURCES.md).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.context import ErrorLog, LiveCalls, Machine, ProbeContext
from agent.files import RootedFiles
from agent.parsers import apt, dnf, zypper
from agent.probes import patches as probe
from agent.runner import LocalRunner
from tests.fakes import FIXTURES, FixtureRunner, context, machine

PATCHES = FIXTURES / "linux" / "patches"
UTC = dt.UTC


def read(name: str) -> str:
    return (PATCHES / name).read_text(encoding="utf-8")


# --- apt parsers --------------------------------------------------------------------------


def test_apt_list_upgradable_debian12() -> None:
    upgrades = apt.parse_upgradable(read("debian12-apt-list-upgradable.out"))
    assert len(upgrades) == 120  # 121 lines, "Listing..." is not a package
    assert sum(u.security for u in upgrades) == 69
    first = upgrades[0]
    assert (first.name, first.installed, first.available, first.arch) == (
        "appstream",
        "0.16.1-2",
        "0.16.1-2+b1",
        "amd64",
    )
    assert first.suites == ("oldstable",) and not first.security
    by_name = {u.name: u for u in upgrades}
    # Offered by two suites, one of them the security suite.
    assert by_name["krb5-locales"].suites == ("oldstable", "oldstable-security")
    assert by_name["krb5-locales"].security
    assert by_name["tzdata"].available == "2026f-0+deb12u1"
    # Epochs stay part of the version.
    assert by_name["libcap2"].installed == "1:2.66-4+deb12u2+b2"
    assert not by_name["libcap2"].security


def test_apt_list_ignores_stderr_warning_and_listing_line() -> None:
    assert apt.parse_upgradable(read("debian12-apt-list-upgradable.err")) == []
    assert apt.parse_upgradable("Listing...\n") == []


def test_apt_config_dump() -> None:
    config = apt.parse_config_dump(read("debian12-apt-config-dump.out"))
    assert config["Dir::Cache::pkgcache"] == ""
    assert config["Dir::Cache"] == "var/cache/apt"
    assert "APT::Periodic::Unattended-Upgrade" not in config
    assert apt.periodic_enabled(config.get("APT::Periodic::Unattended-Upgrade")) is False

    periodic = apt.parse_config_dump(read("debian12-apt-config-dump-periodic.out"))
    assert periodic["APT::Periodic::Unattended-Upgrade"] == "1"
    assert periodic["APT::Periodic::Update-Package-Lists"] == "1"
    assert apt.periodic_enabled(periodic["APT::Periodic::Unattended-Upgrade"]) is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", False),
        ("1", True),
        ("7", True),
        ("always", True),
        ("12h", True),
        ("0d", False),
        ("", None),
        ("yes", None),
    ],
)
def test_periodic_values(value: str, expected: bool | None) -> None:
    assert apt.periodic_enabled(value) is expected


def test_apt_history_log_last_install() -> None:
    text = read("debian12-apt-history.log")
    assert apt.parse_history_log(text, UTC) == dt.datetime(2026, 11, 25, 21, 6, 44, tzinfo=UTC)
    # The local time is read in the zone given (Berlin is UTC+1 in November).
    berlin = apt.parse_history_log(text, dt.timezone(dt.timedelta(hours=1)))
    assert berlin is not None
    assert berlin.astimezone(UTC) == dt.datetime(2026, 11, 25, 20, 6, 44, tzinfo=UTC)


def test_apt_history_log_skips_unfinished_transaction() -> None:
    text = read("debian12-apt-history.log")
    cut = text[: text.rindex("End-Date:")]  # the newest transaction never finished
    assert apt.parse_history_log(cut, UTC) == dt.datetime(2026, 11, 25, 21, 5, 27, tzinfo=UTC)
    assert apt.parse_history_log("", UTC) is None


def test_dpkg_log_last_installed() -> None:
    got = apt.parse_dpkg_log(read("debian12-dpkg.log"), UTC)
    assert got == dt.datetime(2026, 11, 25, 21, 6, 44, tzinfo=UTC)


# --- dnf parsers --------------------------------------------------------------------------


def test_dnf4_check_update_fedora25() -> None:
    updates = dnf.parse_check_update(read("fedora25-dnf-check-update.out"))
    assert len(updates) == 10
    assert updates[0] == dnf.DnfUpdate("PackageKit", "x86_64", "1.1.4-2.fc25", "updates")
    assert updates[-1] == dnf.DnfUpdate("cockpit-ws", "x86_64", "126-1.fc25", "updates")
    assert [u.arch for u in updates].count("noarch") == 3


def test_dnf4_obsoleting_section_is_not_counted() -> None:
    assert dnf.parse_check_update(read("fedora36-dnf-check-update-obsoleting.out")) == []


def test_dnf5_check_upgrade_fedora44() -> None:
    updates = dnf.parse_check_update(read("fedora44-dnf5-check-upgrade.out"))
    assert [(u.name, u.arch) for u in updates] == [
        ("apparmor-libs", "x86_64"),
        ("proton-vpn-daemon", "noarch"),
        ("proton-vpn-gtk-app", "noarch"),
        ("python3-proton-vpn-api-core", "aarch64"),
        ("python3-proton-vpn-api-core", "x86_64"),
    ]
    assert updates[0].available == "6.0.0~alpha1-1.fc44"
    assert updates[0].repo == "terra"


def test_dnf_wrapped_row() -> None:
    # dnf 4 puts a long name on its own line; the rest follows indented (layout of dnf's
    # output code, rows taken from fedora25-dnf-check-update.out).
    text = "PackageKit-glib.x86_64\n                    1.1.4-2.fc25      updates\n"
    assert dnf.parse_check_update(text) == [
        dnf.DnfUpdate("PackageKit-glib", "x86_64", "1.1.4-2.fc25", "updates")
    ]


def test_dnf_updateinfo_security_fedora34() -> None:
    advisories = dnf.parse_updateinfo_security(read("fedora34-dnf-updateinfo-list-security.out"))
    assert len(advisories) == 16  # the metadata line is not an advisory
    assert advisories[0] == dnf.DnfAdvisory(
        "FEDORA-2021-83fdddca0f", "Moderate", "curl", "7.76.1-7.fc34", "x86_64"
    )
    dhcp = advisories[1]
    assert (dhcp.name, dhcp.evr, dhcp.arch) == ("dhcp-client", "12:4.4.2-11.b1.fc34", "x86_64")
    assert {a.severity for a in advisories} == {"Low", "Moderate", "Important", "Critical"}
    assert ("kernel-core", "x86_64") in {(a.name, a.arch) for a in advisories}


def test_dnf_automatic_conf() -> None:
    assert dnf.parse_automatic_apply(read("dnf-automatic.conf")) is False
    applied = read("dnf-automatic.conf").replace("apply_updates = no", "apply_updates = yes")
    assert dnf.parse_automatic_apply(applied) is True
    assert dnf.parse_automatic_apply("[commands]\n") is False  # dnf's default
    assert dnf.parse_automatic_apply("not ini") is None


# --- zypper parsers -----------------------------------------------------------------------


def test_zypper_list_updates_sle12() -> None:
    updates = zypper.parse_list_updates(read("sle12sp1-zypper-list-updates.xml"))
    assert [u.name for u in updates] == ["SUSEConnect", "bind-libs", "bind-utils"]
    assert updates[1] == zypper.ZypperUpdate("bind-libs", "9.9.6P1-35.1", None, "x86_64")


def test_zypper_list_updates_leap16() -> None:
    updates = zypper.parse_list_updates(read("leap16-zypper-list-updates.xml"))
    assert len(updates) == 4
    assert updates[0] == zypper.ZypperUpdate(
        "kernel-default", "6.12.0-160000.8.1", "6.12.0-160000.7.1", "aarch64"
    )
    assert updates[3].name == "qemu-guest-agent"
    assert updates[3].installed == "10.0.4-160000.1.1"


def test_zypper_security_patches_leap16() -> None:
    patches = zypper.parse_list_patches(read("leap16-zypper-list-patches-security.trimmed.xml"))
    # Four <update> elements: two patches, each from two repository aliases.
    assert [p.name for p in patches] == ["openSUSE-Leap-16.0-112", "openSUSE-Leap-16.0-113"]
    assert all(p.category == "security" and p.status == "needed" for p in patches)
    assert {p.severity for p in patches} == {"important"}
    # Patches are not package updates.
    assert zypper.parse_list_updates(read("leap16-zypper-list-patches-security.trimmed.xml")) == []


def test_zypper_refuses_doctype_and_entities() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaa">]><stream>&a;</stream>'
    with pytest.raises(zypper.UnsafeXml):
        zypper.parse_list_updates(bomb)
    with pytest.raises(zypper.ParseError):
        zypper.parse_list_updates("<stream><update-list>")


# --- the probe on fixtures ------------------------------------------------------------------

NOV25 = dt.datetime(2026, 11, 25, 21, 0, 27, tzinfo=UTC).timestamp()
# The installed packages of the rootfs fixture's dpkg status (150 stanzas, see SOURCES.md).
STATUS = FIXTURES / "rootfs" / "patches-debian12" / "var/lib/dpkg/status"


def apt_policy(*options: str) -> list[str]:
    names = apt.parse_dpkg_status_installed(STATUS.read_text(encoding="utf-8"))
    return ["apt-cache", "policy", *options, "--", *names]


def rootfs(tmp_path: Path, name: str) -> Path:
    """A writable copy of a fixture tree: git keeps no mtimes, so tests set them."""
    root = tmp_path / name
    shutil.copytree(FIXTURES / "rootfs" / name, root)
    return root


def apt_runner(dump: str = "debian12-apt-config-dump.out") -> FixtureRunner:
    runner = FixtureRunner()
    runner.add_file(["apt-config", "dump"], f"linux/patches/{dump}")
    runner.add(apt_policy(), read("debian12-apt-cache-policy.out"))
    return runner


def test_dpkg_status_installed_packages() -> None:
    installed = apt.parse_dpkg_status_installed(STATUS.read_text(encoding="utf-8"))
    assert len(installed) == 150  # every stanza of the excerpt is "install ok installed"
    assert installed["adduser:all"] == "all"
    assert installed["bash:amd64"] == "amd64"
    stanza = "Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\n"
    half = "Package: half\nStatus: install reinstreq half-installed\nArchitecture: amd64\n"
    assert apt.parse_dpkg_status_installed(f"{stanza}\n{half}") == {"half:amd64": "amd64"}


def test_apt_cache_policy_gives_what_apt_list_gives() -> None:
    """Both captured from the same machine at the same time: the upgradable packages by
    `apt-cache policy` are exactly those `apt list --upgradable` names (120, 78 of them from
    oldstable-security: `grep -c security` of the list)."""
    installed = apt.parse_dpkg_status_installed(STATUS.read_text(encoding="utf-8"))
    arch_of = {key.partition(":")[0]: arch for key, arch in installed.items()}
    by_policy = apt.parse_policy(read("debian12-apt-cache-policy.out"), arch_of)
    by_list = apt.parse_upgradable(read("debian12-20261206-apt-list-upgradable.out"))
    assert len(by_policy) == 120 and sum(u.security for u in by_policy) == 78
    fields = [(u.name, u.installed, u.available, u.arch, u.security) for u in by_policy]
    assert sorted(fields) == sorted(
        (u.name, u.installed, u.available, u.arch, u.security) for u in by_list
    )
    by_name = {u.name: u for u in by_policy}
    # apt list: "krb5-locales/oldstable,oldstable-security 1.20.1-2+deb12u5 all ..."
    assert by_name["krb5-locales"].security and by_name["krb5-locales"].arch == "all"
    assert by_name["bash"].available == "5.2.15-2+b13" and not by_name["bash"].security
    assert "adduser" not in by_name  # installed = candidate


def test_apt_cache_policy_pinned_down_is_no_upgrade() -> None:
    # A pin (priority 1001) making an older version the candidate: apt lists no upgrade.
    text = (
        "firefox-esr:\n"
        "  Installed: 128.5.0esr-1~deb12u1\n"
        "  Candidate: 115.9.0esr-1~deb12u1\n"
        "  Version table:\n"
        " *** 128.5.0esr-1~deb12u1 100\n"
        "        100 /var/lib/dpkg/status\n"
        "     115.9.0esr-1~deb12u1 1001\n"
        "        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"
    )
    assert apt.parse_policy(text) == []


def test_probe_apt_debian12(tmp_path: Path) -> None:
    root = rootfs(tmp_path, "patches-debian12")
    lists = root / "var/lib/apt/lists"
    os.utime(lists / "deb.debian.org_debian_dists_bookworm_InRelease", (NOV25 - 3600,) * 2)
    os.utime(
        lists / "deb.debian.org_debian-security_dists_bookworm-security_InRelease", (NOV25,) * 2
    )
    # A Packages file is not a Release file and must not count, however new.
    os.utime(
        lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
        (NOV25 + 9999,) * 2,
    )
    runner = apt_runner()
    ctx, errors = context(machine(runner, root))

    got = probe.collect_linux(ctx)

    assert got is not None
    assert errors.entries == []
    assert got.manager == "apt"
    assert got.pending_count == 120 and got.pending is not None and len(got.pending) == 120
    assert got.pending_security_count == 78
    # apt list's second line: "apt-transport-https/oldstable-security 2.6.2 all
    # [upgradable from: 2.6.1]" (the probe lists in dpkg's order).
    second = next(p for p in got.pending if p.name == "apt-transport-https")
    assert (second.name, second.installed, second.available, second.security) == (
        "apt-transport-https",
        "2.6.1",
        "2.6.2",
        True,
    )
    assert got.last_refresh == dt.datetime(2026, 11, 25, 21, 0, 27, tzinfo=UTC)
    # history.log says 21:06:44 local; the tree's /etc/localtime is Europe/Berlin (UTC+1).
    assert got.last_install == dt.datetime(2026, 11, 25, 20, 6, 44, tzinfo=UTC)
    assert got.auto_updates is False  # no APT::Periodic::Unattended-Upgrade
    assert got.reboot_required is False
    # This apt keeps no package cache, but there is no agent cache dir in the tree either.
    # One apt process for the candidates; no `apt list`.
    assert runner.calls == [("apt-config", "dump"), tuple(apt_policy())]


def test_probe_apt_unattended_reboot_and_agent_cache(tmp_path: Path) -> None:
    root = rootfs(tmp_path, "patches-debian12")
    # git keeps no empty directory: dpkg/info exists in the captured tree only with files.
    (root / "var/lib/dpkg/info").mkdir(parents=True, exist_ok=True)
    (root / "var/lib/dpkg/info/unattended-upgrades.list").write_text("")
    (root / "run/reboot-required").write_text("*** System restart required ***\n")
    (root / "var/log/apt/history.log").unlink()  # falls back to dpkg.log
    cache_dir = root / probe.APT_CACHE_DIR.lstrip("/")
    cache_dir.mkdir(parents=True)
    runner = apt_runner("debian12-apt-config-dump-periodic.out")
    cached = apt_policy("-o", f"Dir::Cache::pkgcache={probe.APT_CACHE_DIR}/apt-pkgcache.bin")
    runner.add(cached, read("debian12-apt-cache-policy.out"))
    ctx, errors = context(machine(runner, root))

    got = probe.collect_linux(ctx)

    assert got is not None
    assert errors.entries == []
    assert got.auto_updates is True
    assert got.reboot_required is True
    assert got.last_install == dt.datetime(2026, 11, 25, 20, 6, 44, tzinfo=UTC)
    assert tuple(cached) in runner.calls  # pkgcache "" -> the agent's own cache file
    assert got.pending_count == 120


def test_probe_apt_periodic_without_package_is_off(tmp_path: Path) -> None:
    root = rootfs(tmp_path, "patches-debian12")
    ctx, _ = context(machine(apt_runner("debian12-apt-config-dump-periodic.out"), root))
    got = probe.collect_linux(ctx)
    assert got is not None and got.auto_updates is False


def test_probe_apt_commands_fail(tmp_path: Path) -> None:
    root = rootfs(tmp_path, "patches-debian12")
    (root / "var/log/apt/history.log").unlink()
    (root / "var/log/dpkg.log").unlink()
    for release in (root / "var/lib/apt/lists").glob("*Release"):
        release.unlink()
    runner = FixtureRunner().add(apt_policy(), "", exit_code=100, stderr="E: Could not open lock")
    ctx, errors = context(machine(runner, root))

    got = probe.collect_linux(ctx)

    assert got is not None and got.manager == "apt"
    assert got.pending is None and got.pending_count is None
    assert got.pending_security_count is None
    assert got.auto_updates is None  # apt-config could not run: unknown, not off
    assert got.last_install is None
    assert got.last_refresh is None  # no Release file: lists never fetched
    messages = " | ".join(m for _, m in errors.entries)
    assert "apt-config dump: not-found" in messages
    assert "E: Could not open lock" in messages
    assert "no package installation recorded" in messages
    assert "no Release files" in messages


def test_probe_no_manager() -> None:
    ctx, errors = context(machine(FixtureRunner(), "/nonexistent-root"))
    assert probe.collect_linux(ctx) is None
    assert "no supported package manager" in errors.entries[0][1]


def dnf_runner(check_exit: int = 100) -> FixtureRunner:
    runner = FixtureRunner()
    runner.add_file(
        ["dnf", "-q", "check-update"], "linux/patches/fedora44-dnf5-check-upgrade.out", check_exit
    )
    runner.add(["dnf", "-q", "updateinfo", "list", "--security"], "")
    return runner


def test_probe_dnf(tmp_path: Path) -> None:
    root = rootfs(tmp_path, "patches-fedora")
    os.utime(root / "var/cache/dnf/last_makecache", (NOV25,) * 2)
    runner = dnf_runner()
    # needs-restarting -r reports only through its exit code: 1 = reboot needed.
    runner.add(["needs-restarting", "-r"], "", exit_code=1)
    ctx, errors = context(machine(runner, root))

    got = probe.collect_linux(ctx)

    assert got is not None and got.manager == "dnf"
    assert got.pending_count == 5
    assert got.pending is not None and got.pending[0].name == "apparmor-libs"
    assert got.pending[0].installed is None  # check-update does not print it
    assert got.pending_security_count == 0  # no security advisories listed
    assert got.last_refresh == dt.datetime(2026, 11, 25, 21, 0, 27, tzinfo=UTC)
    # dnf-automatic.timer is enabled but automatic.conf says apply_updates = no.
    assert got.auto_updates is False
    assert got.reboot_required is True
    # rpm was not answered: the last install is unknown, and said so.
    assert got.last_install is None
    assert any("rpm -qa" in m for _, m in errors.entries)


def test_probe_dnf_security_marks_and_failures(tmp_path: Path) -> None:
    root = rootfs(tmp_path, "patches-fedora")
    runner = FixtureRunner()
    runner.add_file(
        ["dnf", "-q", "check-update"], "linux/patches/fedora25-dnf-check-update.out", 100
    )
    runner.add(["dnf", "-q", "updateinfo", "list", "--security"], "", exit_code=1, stderr="Error")
    ctx, errors = context(machine(runner, root))

    got = probe.collect_linux(ctx)

    assert got is not None and got.pending_count == 10
    # Without the advisories nothing is known about security, rather than "none".
    assert got.pending_security_count is None
    assert got.pending is not None and all(p.security is None for p in got.pending)
    assert got.reboot_required is None  # neither needs-restarting nor dnf answered
    assert any("needs-restarting not found" in m for _, m in errors.entries)


def test_probe_dnf_security_from_advisories(tmp_path: Path) -> None:
    # Fedora 34's advisory list against a check-update that lists two of its packages; the
    # rows come from the advisory fixture's own names and versions.
    root = rootfs(tmp_path, "patches-fedora")
    runner = FixtureRunner()
    rows = (
        "curl.x86_64          7.76.1-7.fc34     updates\n"
        "bash.x86_64          5.1.8-1.fc34      updates\n"
    )
    runner.add(["dnf", "-q", "check-update"], rows, exit_code=100)
    runner.add_file(
        ["dnf", "-q", "updateinfo", "list", "--security"],
        "linux/patches/fedora34-dnf-updateinfo-list-security.out",
    )
    ctx, _ = context(machine(runner, root))
    got = probe.collect_linux(ctx)
    assert got is not None and got.pending is not None
    assert [(p.name, p.security) for p in got.pending] == [("curl", True), ("bash", False)]
    assert got.pending_security_count == 1


def test_probe_zypper(tmp_path: Path) -> None:
    root = tmp_path / "suse"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/zypper").write_text("")
    runner = FixtureRunner()
    runner.add_file(
        list(zypper.ZYPPER_LIST_UPDATES_ARGV), "linux/patches/leap16-zypper-list-updates.xml"
    )
    runner.add_file(
        list(zypper.ZYPPER_LIST_SECURITY_PATCHES_ARGV),
        "linux/patches/leap16-zypper-list-patches-security.trimmed.xml",
    )
    runner.add(["zypper", "needs-rebooting"], "", exit_code=102)
    ctx, errors = context(machine(runner, root))

    got = probe.collect_linux(ctx)

    assert got is not None and got.manager == "zypper"
    assert got.pending_count == 4
    assert got.pending is not None and got.pending[0].installed == "6.12.0-160000.7.1"
    assert got.pending[0].security is None
    assert got.pending_security_count == 2  # needed security patches
    assert got.reboot_required is True
    assert got.auto_updates is None
    assert any("automatic updates are not determined" in m for _, m in errors.entries)


# --- live, on this machine ------------------------------------------------------------------


def _direct_counts() -> tuple[int, int]:
    out = subprocess.run(
        ["apt", "list", "--upgradable"],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        check=True,
        timeout=300,
    ).stdout
    rows = [line for line in out.splitlines() if "[upgradable from:" in line]
    security = [r for r in rows if "-security" in r.split()[0].split("/", 1)[1]]
    return len(rows), len(security)


@pytest.mark.skipif(shutil.which("apt") is None, reason="apt is not installed")
def test_live_apt_counts_match_apt_list() -> None:
    before = _direct_counts()
    errors = ErrorLog()
    live = Machine(LocalRunner(), RootedFiles(), LiveCalls(), "linux")
    got = probe.collect_linux(ProbeContext(live, "patches", errors))
    after = _direct_counts()
    if before != after:
        pytest.skip("packages changed on this machine while the test ran")
    assert got is not None and got.manager == "apt"
    assert (got.pending_count, got.pending_security_count) == before
    assert got.reboot_required == Path("/run/reboot-required").exists()
