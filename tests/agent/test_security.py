"""Security probe and its parsers, on real output (see tests/fixtures/linux/security/SOURCES.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.parsers import firewall as fw
from agent.parsers import gsettings as gs
from agent.parsers.lsblk import MountedVolume, parse_lsblk_json
from agent.parsers.samba import (
    parse_samba_version,
    parse_smb_conf_globals,
    protocol_is_smb1,
    smb1_from_globals,
)
from agent.parsers.sshd import SshdSettings, parse_sshd_config, parse_sshd_t
from agent.probes import security
from agent.runner import LocalRunner
from tests.fakes import FIXTURES, FixtureRunner, context, machine
from tests.needs import missing

SEC = FIXTURES / "linux" / "security"
ROOTFS = FIXTURES / "rootfs"
LSBLK = ("lsblk", "-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINTS")
LSBLK_OLD = ("lsblk", "-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT")


def read(name: str) -> str:
    return (SEC / name).read_text(encoding="utf-8")


# --- sshd ---------------------------------------------------------------------------------


def test_sshd_t_debian12_default() -> None:
    # OpenSSH 9.2 prints the old alias "without-password" for prohibit-password.
    assert parse_sshd_t(read("sshd-T-debian12-default.out")) == SshdSettings(
        "without-password", False, True
    )


def test_sshd_t_school_config() -> None:
    assert parse_sshd_t(read("sshd-T-school-config.out")) == SshdSettings("no", False, False)


def test_sshd_t_garbage_is_unknown() -> None:
    assert parse_sshd_t(read("sshd-T-missing-privsep.stderr")) == SshdSettings(None, None, None)


def _loader(base: Path):
    def load(pattern: str) -> list[str]:
        rel = pattern.removeprefix("/etc/ssh/")
        return [p.read_text() for p in sorted(base.glob(rel))]

    return load


def test_sshd_config_fallback_agrees_with_real_sshd_t() -> None:
    # sshd -T on the same files (captured) says: no / no / no. The Match block's "yes"
    # values and the later drop-in's "PasswordAuthentication yes" must not win.
    base = SEC / "sshd-config-school"
    got = parse_sshd_config((base / "sshd_config").read_text(), _loader(base))
    assert got == parse_sshd_t(read("sshd-T-school-config.out"))


def test_sshd_config_defaults_when_unset() -> None:
    got = parse_sshd_config(read("sshd_config-debian12-default"), lambda _p: [])
    assert got == SshdSettings("prohibit-password", False, True)


def test_sshd_config_syntax_variants() -> None:
    text = (
        'permitrootlogin=Yes\nPasswordAuthentication = "no"\nMatch all\nPermitEmptyPasswords yes\n'
    )
    assert parse_sshd_config(text, lambda _p: []) == SshdSettings("yes", True, False)


def test_sshd_config_match_in_include_ends_with_the_file() -> None:
    main = "Include a.conf\nPermitRootLogin no\n"
    included = "Match User backup\nPasswordAuthentication yes\n"
    got = parse_sshd_config(main, lambda _p: [included])
    assert got == SshdSettings("no", False, True)


# --- lsblk --------------------------------------------------------------------------------


def test_lsblk_this_vm_unencrypted() -> None:
    vols = parse_lsblk_json(read("lsblk-debian12-vm.json"))
    assert vols == [MountedVolume("/", False, None, "vda")]
    assert parse_lsblk_json(read("lsblk-mountpoint-debian12-vm.json")) == vols


def test_lsblk_fedora_luks_btrfs() -> None:
    vols = {
        v.mount: (v.encrypted, v.method)
        for v in parse_lsblk_json(read("lsblk-f-J-fedora-luks-btrfs.json"))
    }
    assert vols == {
        "/boot/efi": (False, None),
        "/boot": (False, None),
        "/home": (True, "luks"),
        "/": (True, "luks"),
    }


def test_lsblk_luks_on_lvm_legacy_mountpoint_column() -> None:
    vols = parse_lsblk_json(read("lsblk-J-b-nixos-lvm-luks.json"))
    # loop0 has no mount, [SWAP] is not a file system, sda1 is not mounted.
    assert [(v.mount, v.encrypted, v.method) for v in vols] == [
        ("/boot", False, None),
        ("/etc/NetworkManager/system-connections", True, "luks"),
    ]


def test_lsblk_plain_dm_crypt() -> None:
    # Hand-written edge case (no real capture of plain dm-crypt at hand): a crypt mapping
    # without a LUKS header above it.
    plain = {"name": "plain", "type": "crypt", "fstype": "ext4", "mountpoints": ["/srv"]}
    part = {"name": "sda2", "type": "part", "fstype": None, "children": [plain]}
    text = json.dumps({"blockdevices": [{"name": "sda", "type": "disk", "children": [part]}]})
    assert parse_lsblk_json(text) == [MountedVolume("/srv", True, "dm-crypt", "plain")]


def test_lsblk_rejects_non_json() -> None:
    with pytest.raises(ValueError):
        parse_lsblk_json(read("sshd-T-missing-privsep.stderr"))


# --- firewall -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nft-j-list-ruleset-empty.json", False),
        ("nft-j-list-ruleset-debian-default.json", False),  # hooks, accept, no rules
        ("nft-j-list-ruleset-workstation.json", True),  # policy drop
        ("nft-j-list-ruleset-ufw.json", True),
    ],
)
def test_nft_json(name: str, expected: bool) -> None:
    assert fw.parse_nft_json(read(name)) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nft-list-ruleset-empty.out", False),
        ("nft-list-ruleset-debian-default.out", False),
        ("nft-list-ruleset-workstation.out", True),
        ("nft-list-ruleset-ufw.out", True),
    ],
)
def test_nft_text(name: str, expected: bool) -> None:
    assert fw.parse_nft_text(read(name)) is expected


def test_nft_text_rules_in_accepting_input_chain() -> None:
    # Hand-written edge case: an accepting input chain that still drops one port.
    text = (
        "table inet f {\n\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\ttcp dport 23 drop\n\t}\n}\n"
    )
    assert fw.parse_nft_text(text) is True
    assert fw.parse_nft_text("not a ruleset") is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("iptables-save-empty.out", False),
        ("ip6tables-save-empty.out", False),
        ("iptables-save-nat-only.out", False),  # Docker-style NAT is not a firewall
        ("iptables-save-input-rules.out", True),
        ("iptables-save-ufw.out", True),
        ("ip6tables-save-ufw.out", True),
    ],
)
def test_iptables_save(name: str, expected: bool) -> None:
    assert fw.parse_iptables_save(read(name)) is expected


def test_ufw_and_firewalld() -> None:
    assert fw.parse_ufw_status(read("ufw-status-active.out")) is True
    assert fw.parse_ufw_status(read("ufw-status-verbose-active.out")) is True
    assert fw.parse_ufw_status(read("ufw-status-inactive.out")) is False
    assert fw.parse_ufw_status("ERROR: You need to be root to run this script") is None
    assert fw.parse_firewalld_state("running\n") is True
    assert fw.parse_firewalld_state("not running\n") is False


# --- samba --------------------------------------------------------------------------------


def test_samba_testparm_outputs() -> None:
    assert (
        smb1_from_globals(parse_smb_conf_globals(read("testparm-s-server-nt1.out")), None) is True
    )
    # client min protocol = NT1 is the client side; server default applies (4.17 -> SMB2).
    client = parse_smb_conf_globals(read("testparm-s-client-nt1.out"))
    assert client["client min protocol"] == "NT1"
    assert smb1_from_globals(client, (4, 17)) is False
    default = parse_smb_conf_globals(read("testparm-s-debian12-default.out"))
    assert smb1_from_globals(default, (4, 17)) is False
    assert smb1_from_globals(default, (4, 10)) is True  # pre-4.11 default was LANMAN1
    assert smb1_from_globals(default, None) is None
    verbose = parse_smb_conf_globals(read("testparm-s-v-debian12-default.out"))
    assert verbose["server min protocol"] == "SMB2_02"
    assert smb1_from_globals(verbose, None) is False


def test_samba_helpers() -> None:
    assert protocol_is_smb1("nt1") and protocol_is_smb1("LANMAN2")
    assert not protocol_is_smb1("SMB2_02") and not protocol_is_smb1("SMB3")
    assert parse_samba_version("Version 4.17.12-Debian") == (4, 17)
    assert parse_smb_conf_globals(read("smb-nt1.conf"))["server min protocol"] == "NT1"


# --- gsettings / dconf --------------------------------------------------------------------


def test_dconf_keyfile_matches_real_gsettings() -> None:
    groups = gs.parse_keyfile(read("dconf-local.d/00-screensaver"))
    # gsettings-get-locked-policy.out: what gsettings printed with this keyfile compiled.
    assert gs.parse_gvariant_bool(groups[gs.SCREENSAVER]["lock-enabled"]) is True
    assert gs.parse_gvariant_uint(groups[gs.SESSION]["idle-delay"]) == 600
    assert gs.parse_gvariant_uint(groups[gs.SCREENSAVER]["lock-delay"]) == 30
    assert "uint32 600" in read("gsettings-get-locked-policy.out")


def test_gschema_defaults_and_screen_lock_rule() -> None:
    schemas = ROOTFS / "security-laptop-uefi-sb-on/usr/share/glib-2.0/schemas"
    xml = (schemas / "org.gnome.desktop.session.gschema.xml").read_text()
    assert gs.parse_gschema_defaults(xml, "org.gnome.desktop.session")["idle-delay"] == "300"
    assert gs.screen_lock(True, 600, 30) == gs.ScreenLockFacts(True, 630, True)
    assert gs.screen_lock(True, 0, 0) == gs.ScreenLockFacts(False, None, True)
    assert gs.screen_lock(False, 300, 0) == gs.ScreenLockFacts(False, None, False)
    assert gs.parse_profile("user-db:user\nsystem-db:local\nsystem-db:site\n") == ["local", "site"]


# --- the probe ----------------------------------------------------------------------------


def _runner(
    *,
    nft: str | None = None,
    ipt: str | None = None,
    ufw: str | None = None,
    lsblk: str = "lsblk-debian12-vm.json",
) -> FixtureRunner:
    r = FixtureRunner()
    if nft:
        r.add_file(["nft", "-j", "list", "ruleset"], f"linux/security/{nft}")
    if ipt:
        r.add_file(["iptables-save"], f"linux/security/{ipt}")
        r.add_file(["ip6tables-save"], "linux/security/ip6tables-save-empty.out")
    if ufw:
        r.add_file(["ufw", "status"], f"linux/security/{ufw}")
    r.add_file(LSBLK, f"linux/security/{lsblk}")
    return r


def _probe(runner: FixtureRunner, root: str):
    ctx, errors = context(machine(runner, ROOTFS / root), "security")
    return security.collect_linux(ctx), dict(errors.entries) if errors.entries else {}, errors


def test_probe_debian12_vm_as_captured() -> None:
    runner = _runner(
        nft="nft-j-list-ruleset-empty.json",
        ipt="iptables-save-empty.out",
        ufw="ufw-status-inactive.out",
    )
    runner.add_file(["/usr/sbin/sshd", "-T"], "linux/security/sshd-T-debian12-default.out")
    sec, _, errors = _probe(runner, "security-debian12-vm")
    assert sec is not None
    assert sec.firewall is False and sec.firewall_backend is None
    assert [(d.mount, d.encrypted) for d in sec.disk_encryption or []] == [("/", False)]
    assert sec.secure_boot is False  # BIOS boot
    assert sec.ssh is not None and sec.ssh.permit_root_login == "without-password"
    assert sec.smb1 is False and sec.rdp is not None and sec.rdp.enabled is False
    assert sec.antivirus == []
    assert sec.mac_system is None and sec.mac_enforcing is False
    assert sec.screen_lock is None
    assert [m for _, m in errors.entries] == [
        "no screen lock settings readable (no GNOME, no dconf system settings)"
    ]


def test_probe_firewall_active_via_ufw_and_nft() -> None:
    runner = _runner(
        nft="nft-j-list-ruleset-ufw.json", ipt="iptables-save-ufw.out", ufw="ufw-status-active.out"
    )
    sec, _, _ = _probe(runner, "security-debian12-vm")
    assert sec.firewall is True and sec.firewall_backend == "ufw"


def test_probe_firewall_nft_text_fallback() -> None:
    runner = _runner()
    runner.add(["nft", "-j", "list", "ruleset"], "", 1, "Error: JSON support not compiled-in")
    runner.add_file(["nft", "list", "ruleset"], "linux/security/nft-list-ruleset-workstation.out")
    sec, _, _ = _probe(runner, "security-debian12-vm")
    assert sec.firewall is True and sec.firewall_backend == "nftables"


def test_probe_firewall_unreadable_is_unknown() -> None:
    # Real stderr of these commands run as uid 65534 here (nonroot-outputs.txt).
    nft_err = (
        "Operation not permitted (you must be root)\n"
        "netlink: Error: cache initialization failed: Operation not permitted\n"
    )
    ipt_err = (
        "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: "
        "Permission denied (you must be root)\n"
    )
    runner = _runner()
    runner.add(["nft", "-j", "list", "ruleset"], "", 1, nft_err)
    runner.add(["nft", "list", "ruleset"], "", 1, nft_err)
    runner.add(["iptables-save"], "", 4, ipt_err)
    runner.add(["ip6tables-save"], "", 4, ipt_err.replace("iptables", "ip6tables"))
    runner.add(["ufw", "status"], "ERROR: You need to be root to run this script\n", 1)
    sec, _, errors = _probe(runner, "security-debian12-vm")
    assert sec.firewall is None and sec.firewall_backend is None
    msgs = [m for _, m in errors.entries if m.startswith("firewall")]
    assert len(msgs) == 1 and "Operation not permitted" in msgs[0] and "you must be root" in msgs[0]


def test_probe_luks_root_uefi_secure_boot_apparmor_gnome_policy() -> None:
    runner = _runner(
        nft="nft-j-list-ruleset-workstation.json", lsblk="lsblk-f-J-fedora-luks-btrfs.json"
    )
    sec, _, errors = _probe(runner, "security-laptop-uefi-sb-on")
    assert sec.firewall is True and sec.firewall_backend == "nftables"
    enc = {d.mount: (d.encrypted, d.method) for d in sec.disk_encryption}
    assert enc["/"] == (True, "luks") and enc["/boot"] == (False, None)
    assert sec.secure_boot is True
    assert sec.mac_system == "apparmor" and sec.mac_enforcing is True
    assert sec.screen_lock is not None
    assert (sec.screen_lock.enabled, sec.screen_lock.timeout_s, sec.screen_lock.password) == (
        True,
        630,
        True,
    )
    assert sec.ssh is None  # no sshd installed: no error either
    assert errors.entries == []


def test_probe_secure_boot_off_gnome_defaults_selinux_permissive() -> None:
    sec, _, _ = _probe(
        _runner(ipt="iptables-save-input-rules.out", lsblk="lsblk-J-b-nixos-lvm-luks.json"),
        "security-uefi-sb-off-gnome-defaults",
    )
    assert sec.secure_boot is False
    assert sec.firewall is True and sec.firewall_backend == "iptables"
    # GNOME schema defaults: lock-enabled true, idle-delay 300, lock-delay 0.
    assert (sec.screen_lock.enabled, sec.screen_lock.timeout_s) == (True, 300)
    assert sec.mac_system == "selinux" and sec.mac_enforcing is False
    # "/" is not listed by this lsblk: an unknown entry first, with an error.
    assert sec.disk_encryption[0].mount == "/" and sec.disk_encryption[0].encrypted is None


def test_probe_efi_without_efivars_is_unknown_selinux_enforcing() -> None:
    sec, _, errors = _probe(_runner(), "security-uefi-no-efivars")
    assert sec.secure_boot is None
    assert any("efivars" in m for _, m in errors.entries)
    assert sec.mac_system == "selinux" and sec.mac_enforcing is True


def test_probe_sshd_t_fails_falls_back_to_config_files() -> None:
    runner = _runner()
    runner.add(["/usr/sbin/sshd", "-T"], "", 255, read("sshd-T-missing-privsep.stderr"))
    runner.add(
        ["testparm", "-s", "--parameter-name", "server min protocol"], "", 1, "testparm: not found"
    )
    runner.add(["/usr/sbin/smbd", "--version"], "Version 4.17.12-Debian\n")
    sec, _, _ = _probe(runner, "security-sshd-config-samba-xrdp")
    assert sec.ssh is not None
    assert (
        sec.ssh.permit_root_login,
        sec.ssh.password_authentication,
        sec.ssh.permit_empty_passwords,
    ) == ("no", False, False)
    assert sec.smb1 is True  # smb.conf: server min protocol = NT1
    assert sec.rdp is not None and (sec.rdp.enabled, sec.rdp.nla) == (True, False)


def test_probe_smb1_from_testparm() -> None:
    runner = _runner()
    runner.add(["testparm", "-s", "--parameter-name", "server min protocol"], "SMB2_02\n")
    sec, _, _ = _probe(runner, "security-sshd-config-samba-xrdp")
    assert sec.smb1 is False


def test_probe_lsblk_old_util_linux_retries_mountpoint(tmp_path: Path) -> None:
    runner = FixtureRunner()
    runner.add(LSBLK, "", 1, "lsblk: unknown column: MOUNTPOINTS\n")  # util-linux < 2.37
    runner.add_file(LSBLK_OLD, "linux/security/lsblk-mountpoint-debian12-vm.json")
    sec, _, _ = _probe(runner, "security-debian12-vm")
    assert [(d.mount, d.encrypted) for d in sec.disk_encryption] == [("/", False)]


def test_probe_clamav_signature_date(tmp_path: Path) -> None:
    shutil.copytree(ROOTFS / "security-debian12-vm", tmp_path, dirs_exist_ok=True)
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/clamscan").write_bytes(b"")
    db = tmp_path / "var/lib/clamav"
    db.mkdir(parents=True)
    (db / "daily.cld").write_bytes(b"")
    stamp = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC).timestamp()
    os.utime(db / "daily.cld", (stamp, stamp))
    ctx, _ = context(machine(FixtureRunner(), tmp_path), "security")
    sec = security.collect_linux(ctx)
    assert sec is not None and sec.antivirus is not None and len(sec.antivirus) == 1
    av = sec.antivirus[0]
    assert av.name == "ClamAV" and av.realtime is None
    assert av.signatures_updated == dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


# --- live ---------------------------------------------------------------------------------


def test_live_ssh_facts_agree_with_sshd_t() -> None:
    if shutil.which("sshd") is None or os.geteuid() != 0:
        missing("needs openssh-server's sshd and root")
    direct = subprocess.run(
        ["sshd", "-T"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    if direct.returncode != 0:
        missing(f"sshd -T does not run here: {direct.stderr.strip()}")
    expected = parse_sshd_t(direct.stdout)
    from agent.context import ErrorLog, LiveCalls, Machine, ProbeContext
    from agent.files import RootedFiles

    ctx = ProbeContext(
        Machine(LocalRunner(), RootedFiles(), LiveCalls(), "linux"), "security", ErrorLog()
    )
    ssh = security._ssh(ctx)
    assert ssh is not None
    assert (ssh.permit_root_login, ssh.permit_empty_passwords, ssh.password_authentication) == (
        expected.permit_root_login,
        expected.permit_empty_passwords,
        expected.password_authentication,
    )


def test_ufw_disabled_in_its_config_is_not_asked() -> None:
    # etc/ufw/ufw.conf: Debian 12's ufw 0.36.2 after `ufw --force reset` (ENABLED=no).
    runner = _runner(nft="nft-j-list-ruleset-empty.json", ipt="iptables-save-empty.out")
    sec, _, _ = _probe(runner, "security-ufw-disabled")
    assert ["ufw", "status"] not in [list(c) for c in runner.calls]
    assert sec.firewall is False  # from nft and iptables, which were read


def test_ufw_disabled_alone_is_no_verdict() -> None:
    runner = FixtureRunner()  # nft, iptables-save: not installed / unreadable
    runner.add_file(LSBLK, "linux/security/lsblk-debian12-vm.json")
    sec, _, errors = _probe(runner, "security-ufw-disabled")
    assert sec.firewall is None
    assert any("firewall state not readable" in m for _, m in errors.entries)
