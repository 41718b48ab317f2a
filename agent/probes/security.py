"""Security posture of a Linux host: firewall, disk encryption, Secure Boot, screen lock,
antivirus, SSH server, SMB1, RDP and mandatory access control.

Every fact is read through the probe context (commands via ``ctx.run``, files via
``ctx.files``), so the same code runs live, from a support bundle and over SSH. The rule
from the design holds throughout: a fact that cannot be read is ``None`` plus an entry in
``collection.errors``; "not installed" is a fact, not an error.

Decisions, each documented where it is made:

- firewall: True if any of nftables, iptables/ip6tables, ufw, firewalld says a filter is
  active on *input*; False only if at least one could be read and none is active; None if
  none could be read (typically: not root). FORWARD/NAT rules do not count (see
  agent.parsers.firewall).
- disk_encryption: one entry per mounted block-device file system (lsblk), always one for
  "/" (unknown if "/" is not on a block device lsblk lists, e.g. ZFS or a container).
- secure_boot: a machine without /sys/firmware/efi booted via legacy BIOS and has no Secure
  Boot: False, no error.
- ssh: no sshd binary -> None and no error (no SSH server, nothing to report). sshd
  installed -> its configuration, whether or not the service currently runs.
- smb1: no Samba server (smbd) installed -> False, no error (no SMB server, no SMBv1 server).
  The in-kernel ksmbd is not examined.
- rdp: only xrdp is examined. Not installed -> enabled False. Installed -> enabled = its
  systemd unit is enabled at boot; nla False, because xrdp does not implement NLA
  (CredSSP). GNOME Remote Desktop (per-user or system mode) is not examined.
- screen_lock: GNOME only, machine-wide (see agent.parsers.gsettings); a user's own changes
  in their session are not visible to a system service.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import posixpath

from agent import fact_cache
from agent.context import ProbeContext
from agent.parsers import firewall as fw
from agent.parsers import gsettings as gs
from agent.parsers.lsblk import parse_lsblk_json
from agent.parsers.samba import (
    parse_samba_version,
    parse_smb_conf_globals,
    protocol_is_smb1,
    smb1_from_globals,
)
from agent.parsers.sshd import SshdSettings, parse_sshd_config, parse_sshd_t
from agent.runner import CommandResult
from agent.schema import Antivirus, DiskEncryption, Rdp, ScreenLock, Security, SshServer

COMMAND_TIMEOUT_S = 15.0

EFI_DIR = "/sys/firmware/efi"
EFIVARS = f"{EFI_DIR}/efivars"
SECURE_BOOT_VAR = f"{EFIVARS}/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

SSHD_BINARIES = ("/usr/sbin/sshd", "/usr/bin/sshd")
SSHD_CONFIG = "/etc/ssh/sshd_config"
# What `sshd -T` reads: the binary, its configuration and drop-ins, and (Fedora, RHEL) the
# crypto policy it includes. Its answer is kept while these are unchanged (agent.fact_cache),
# at most an hour, so that the light reports do not run sshd every 15 minutes.
SSHD_DEPENDS_ON = (
    SSHD_CONFIG,
    "/etc/ssh/sshd_config.d",
    "/etc/crypto-policies/back-ends",
)
SSHD_ANSWER_MAX_AGE_S = 3600.0
# What decides which mount is encrypted: the mounts, and the block devices (an opened LUKS
# volume is a new dm device). lsblk's answer is kept while they are unchanged, at most an hour.
LSBLK_DEPENDS_ON = ("/sys/block",)
LSBLK_CONTENTS = ("/proc/self/mountinfo",)
LSBLK_ANSWER_MAX_AGE_S = 3600.0
UFW_CONF = "/etc/ufw/ufw.conf"
SMBD_BINARIES = ("/usr/sbin/smbd", "/usr/bin/smbd")
SMB_CONF = "/etc/samba/smb.conf"
XRDP_BINARIES = ("/usr/sbin/xrdp", "/usr/bin/xrdp")
XRDP_ENABLED_LINKS = (
    "/etc/systemd/system/multi-user.target.wants/xrdp.service",
    "/etc/systemd/system/graphical.target.wants/xrdp.service",
)
CLAMAV_BINARIES = (
    "/usr/sbin/clamd",
    "/usr/bin/clamscan",
    "/usr/bin/freshclam",
    "/usr/bin/clamdscan",
)
CLAMAV_DB = "/var/lib/clamav"

APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
APPARMOR_PROFILES = "/sys/kernel/security/apparmor/profiles"
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"

DCONF_PROFILE = "/etc/dconf/profile/user"
DCONF_DB = "/etc/dconf/db"
GSCHEMAS = "/usr/share/glib-2.0/schemas"
GNOME_SHELL = ("/usr/bin/gnome-shell",)


def collect_linux(ctx: ProbeContext) -> Security | None:
    security = Security()
    security.firewall, security.firewall_backend = _firewall(ctx)
    security.disk_encryption = _disk_encryption(ctx)
    security.secure_boot = _secure_boot(ctx)
    security.screen_lock = _screen_lock(ctx)
    security.antivirus = _antivirus(ctx)
    security.ssh = _ssh(ctx)
    security.smb1 = _smb1(ctx)
    security.rdp = _rdp(ctx)
    security.mac_system, security.mac_enforcing = _mac(ctx)
    return security


def _any_exists(ctx: ProbeContext, paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if ctx.exists(p)), None)


def _run(ctx: ProbeContext, argv: list[str]) -> CommandResult:
    return ctx.run(argv, timeout=COMMAND_TIMEOUT_S)


# --- firewall -------------------------------------------------------------------------------

# The order names the backend: a manager (firewalld, ufw) over the kernel layer it drives.
_BACKEND_ORDER = ("firewalld", "ufw", "nftables", "iptables")


def _firewall(ctx: ProbeContext) -> tuple[bool | None, str | None]:
    verdicts: dict[str, bool] = {}
    failures: list[str] = []

    def note(backend: str, verdict: bool | None, result: CommandResult) -> None:
        if verdict is None:
            if result.error != "not-found":  # a tool that is not installed is no failure
                failures.append(result.describe())
            return
        verdicts[backend] = verdicts.get(backend, False) or verdict

    result = _run(ctx, ["nft", "-j", "list", "ruleset"])
    if result.ok:
        note("nftables", fw.parse_nft_json(result.stdout), result)
    elif result.error != "not-found":
        # nft without JSON support, or an error: the text form tells the same.
        text = _run(ctx, ["nft", "list", "ruleset"])
        note("nftables", fw.parse_nft_text(text.stdout) if text.ok else None, text)

    for tool in ("iptables-save", "ip6tables-save"):
        result = _run(ctx, [tool])
        note("iptables", fw.parse_iptables_save(result.stdout) if result.ok else None, result)

    # ufw is a Python program (~40 ms of CPU); when its own configuration says it is
    # disabled, `ufw disable` has also removed its rules: nothing to ask it. That alone is no
    # verdict on the host's firewall, which nft/iptables above may still have.
    if not _ufw_disabled(ctx):
        result = _run(ctx, ["ufw", "status"])
        note("ufw", fw.parse_ufw_status(result.stdout) if result.ok else None, result)

    # firewall-cmd exits 252 with "not running" when firewalld is stopped.
    result = _run(ctx, ["firewall-cmd", "--state"])
    state = fw.parse_firewalld_state(result.stdout or result.stderr)
    note("firewalld", state if result.exit_code in (0, 252) else None, result)

    if not verdicts:
        detail = "; ".join(failures) if failures else "no nft, iptables-save, ufw or firewall-cmd"
        ctx.error(f"firewall state not readable: {detail}")
        return None, None
    active = [b for b in _BACKEND_ORDER if verdicts.get(b)]
    return bool(active), (active[0] if active else None)


def _ufw_disabled(ctx: ProbeContext) -> bool:
    conf = ctx.text(UFW_CONF)
    if conf is None:
        return False
    for line in conf.splitlines():
        key, _, value = line.strip().partition("=")
        if key == "ENABLED":
            return value.strip().strip("\"'").lower() == "no"
    return False


# --- disk encryption ------------------------------------------------------------------------


def _lsblk(ctx: ProbeContext, columns: str) -> CommandResult:
    return fact_cache.run_cached(
        ctx,
        ["lsblk", "-J", "-o", columns],
        LSBLK_DEPENDS_ON,
        LSBLK_ANSWER_MAX_AGE_S,
        COMMAND_TIMEOUT_S,
        contents=LSBLK_CONTENTS,
    )


def _disk_encryption(ctx: ProbeContext) -> list[DiskEncryption] | None:
    result = _lsblk(ctx, "NAME,TYPE,FSTYPE,MOUNTPOINTS")
    if not result.ok and result.error is None:
        # util-linux < 2.37 has no MOUNTPOINTS column ("unknown column").
        result = _lsblk(ctx, "NAME,TYPE,FSTYPE,MOUNTPOINT")
    if not result.ok:
        ctx.error(f"disk encryption: {result.describe()}")
        return None
    try:
        volumes = parse_lsblk_json(result.stdout)
    except ValueError as exc:
        ctx.error(f"disk encryption: lsblk output not understood: {exc}")
        return None
    entries = [
        DiskEncryption(mount=v.mount, encrypted=v.encrypted, method=v.method) for v in volumes
    ]
    if not any(v.mount == "/" for v in volumes):
        ctx.error("disk encryption: '/' is not on a block device lsblk lists (ZFS, container?)")
        entries.insert(0, DiskEncryption(mount="/", encrypted=None, method=None))
    return entries


# --- Secure Boot ----------------------------------------------------------------------------


def _secure_boot(ctx: ProbeContext) -> bool | None:
    if not ctx.exists(EFI_DIR):
        return False  # legacy BIOS boot: there is no Secure Boot
    try:
        # efivarfs: 4 bytes of attributes, then the variable's data (one byte, 1 = on).
        data = ctx.files.read_bytes(SECURE_BOOT_VAR)
    except FileNotFoundError:
        if ctx.listdir(EFIVARS):
            return False  # variables readable, but the firmware has no Secure Boot at all
        ctx.error(f"secure boot: {EFIVARS} is empty or not mounted")
        return None
    except OSError as exc:
        ctx.error(f"secure boot: {SECURE_BOOT_VAR}: {exc.strerror or exc}")
        return None
    if len(data) < 5 or data[4] not in (0, 1):
        ctx.error(f"secure boot: unexpected content of {SECURE_BOOT_VAR} ({data[:8].hex()})")
        return None
    return data[4] == 1


# --- screen lock ----------------------------------------------------------------------------


def _keyfile_settings(ctx: ProbeContext) -> dict[str, dict[str, str]]:
    """Merged keyfile values of the system databases the dconf user profile names.

    Across databases the first in the profile wins (as dconf reads them); within one
    ``<db>.d`` directory a later file (by name) overrides an earlier one, as ``dconf
    update`` compiles them.
    """
    profile = ctx.text(DCONF_PROFILE)
    if profile is None:
        return {}  # no profile: dconf uses the user database only, system dbs are unused
    merged: dict[str, dict[str, str]] = {}
    for db in gs.parse_profile(profile):
        directory = f"{DCONF_DB}/{db}.d"
        values: dict[str, dict[str, str]] = {}
        for name in ctx.listdir(directory):
            text = ctx.text(f"{directory}/{name}")
            if text is None:
                continue  # the locks/ directory, or unreadable
            for group, keys in gs.parse_keyfile(text).items():
                values.setdefault(group, {}).update(keys)
        for group, keys in values.items():
            target = merged.setdefault(group, {})
            for key, value in keys.items():
                target.setdefault(key, value)
    return merged


def _schema_default(ctx: ProbeContext, schema_id: str, key: str) -> str | None:
    text = ctx.text(f"{GSCHEMAS}/{schema_id}.gschema.xml")
    return gs.parse_gschema_defaults(text, schema_id).get(key) if text else None


def _screen_lock(ctx: ProbeContext) -> ScreenLock | None:
    settings = _keyfile_settings(ctx)
    saver, session = settings.get(gs.SCREENSAVER, {}), settings.get(gs.SESSION, {})
    configured = any(k in saver for k in ("lock-enabled", "lock-delay")) or "idle-delay" in session
    if not configured and not _any_exists(ctx, GNOME_SHELL):
        # No desktop policy and no GNOME: a server, or a desktop we do not read.
        ctx.error("no screen lock settings readable (no GNOME, no dconf system settings)")
        return None

    def value(group: dict[str, str], schema_id: str, key: str) -> str | None:
        return group.get(key) or _schema_default(ctx, schema_id, key)

    lock_enabled = gs.parse_gvariant_bool(
        value(saver, "org.gnome.desktop.screensaver", "lock-enabled")
    )
    idle_delay = gs.parse_gvariant_uint(value(session, "org.gnome.desktop.session", "idle-delay"))
    lock_delay = gs.parse_gvariant_uint(value(saver, "org.gnome.desktop.screensaver", "lock-delay"))
    if lock_enabled is None or idle_delay is None or lock_delay is None:
        ctx.error("no screen lock settings readable (GNOME settings incomplete)")
        return None
    facts = gs.screen_lock(lock_enabled, idle_delay, lock_delay)
    return ScreenLock(enabled=facts.enabled, timeout_s=facts.timeout_s, password=facts.password)


# --- antivirus ------------------------------------------------------------------------------


def _antivirus(ctx: ProbeContext) -> list[Antivirus]:
    if not _any_exists(ctx, CLAMAV_BINARIES):
        return []
    updated: float | None = None
    for name in ("daily.cld", "daily.cvd"):
        try:
            mtime = ctx.files.mtime(f"{CLAMAV_DB}/{name}")
        except OSError:
            continue
        updated = mtime if updated is None else max(updated, mtime)
    if updated is None:
        ctx.error(f"antivirus: ClamAV installed but no daily signatures in {CLAMAV_DB}")
    return [
        Antivirus(
            name="ClamAV",
            # On-access scanning (clamonacc) cannot be told apart reliably from files.
            realtime=None,
            signatures_updated=dt.datetime.fromtimestamp(updated, dt.UTC) if updated else None,
        )
    ]


# --- SSH server -----------------------------------------------------------------------------


def _ssh(ctx: ProbeContext) -> SshServer | None:
    binary = _any_exists(ctx, SSHD_BINARIES)
    if binary is None:
        return None  # no SSH server installed: nothing to report, not an error
    result = fact_cache.run_cached(
        ctx,
        [binary, "-T"],
        (binary, *SSHD_DEPENDS_ON),
        SSHD_ANSWER_MAX_AGE_S,
        COMMAND_TIMEOUT_S,
    )
    settings: SshdSettings | None = None
    if result.ok:
        settings = parse_sshd_t(result.stdout)
    if settings is None or settings.permit_root_login is None:
        # sshd -T needs root and a sane installation ("Missing privilege separation
        # directory: /run/sshd" before the service first ran); read the files instead.
        settings = _sshd_from_files(ctx)
    if settings is None:
        ctx.error(f"ssh: {result.describe()}; {SSHD_CONFIG} not readable")
        return SshServer()
    return SshServer(
        permit_root_login=settings.permit_root_login,
        permit_empty_passwords=settings.permit_empty_passwords,
        password_authentication=settings.password_authentication,
    )


def _sshd_from_files(ctx: ProbeContext) -> SshdSettings | None:
    main = ctx.text(SSHD_CONFIG)
    if main is None:
        return None

    def load(pattern: str) -> list[str]:
        path = pattern if pattern.startswith("/") else f"/etc/ssh/{pattern}"
        directory, base = posixpath.split(path)
        names = sorted(n for n in ctx.listdir(directory) if fnmatch.fnmatchcase(n, base))
        texts = [ctx.text(f"{directory}/{n}") for n in names]
        return [t for t in texts if t is not None]

    return parse_sshd_config(main, load)


# --- SMB1 -----------------------------------------------------------------------------------


def _smb1(ctx: ProbeContext) -> bool | None:
    smbd = _any_exists(ctx, SMBD_BINARIES)
    if smbd is None:
        return False  # no Samba server: no SMBv1 server (ksmbd not examined)
    # testparm resolves defaults, Includes and synonyms the way smbd does.
    result = _run(ctx, ["testparm", "-s", "--parameter-name", "server min protocol"])
    if result.ok and result.stdout.strip():
        return protocol_is_smb1(result.stdout.strip().splitlines()[-1])
    conf = ctx.text(SMB_CONF)
    if conf is None:
        ctx.error(f"smb1: {result.describe()}; {SMB_CONF} not readable")
        return None
    version = _run(ctx, [smbd, "--version"])
    verdict = smb1_from_globals(
        parse_smb_conf_globals(conf), parse_samba_version(version.stdout) if version.ok else None
    )
    if verdict is None:
        ctx.error(
            f"smb1: server min protocol unset and Samba version unknown ({version.describe()})"
        )
    return verdict


# --- RDP ------------------------------------------------------------------------------------


def _rdp(ctx: ProbeContext) -> Rdp:
    if not _any_exists(ctx, XRDP_BINARIES):
        return Rdp(enabled=False, nla=None)
    enabled = _any_exists(ctx, XRDP_ENABLED_LINKS) is not None
    return Rdp(enabled=enabled, nla=False if enabled else None)


# --- mandatory access control ---------------------------------------------------------------


def _mac(ctx: ProbeContext) -> tuple[str | None, bool | None]:
    enforce = ctx.attr(SELINUX_ENFORCE)
    if enforce is not None:
        return "selinux", enforce == "1"
    if ctx.attr(APPARMOR_ENABLED) == "Y":
        profiles = ctx.text(APPARMOR_PROFILES)
        if profiles is None:
            ctx.error(f"apparmor: {APPARMOR_PROFILES} not readable (needs root)")
            return "apparmor", None
        enforcing = sum(1 for line in profiles.splitlines() if line.rstrip().endswith("(enforce)"))
        return "apparmor", enforcing > 0
    return None, False  # no MAC system loaded: nothing is enforced
