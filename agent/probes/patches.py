"""Patch status on Linux: pending (security) updates, last refresh and install, automatic
updates, reboot required — from apt, dnf or zypper.

Times the package managers log without an offset (apt's history.log, dpkg.log) are local
wall-clock times of the machine; they are read in the zone of the machine's /etc/localtime
(through the probe's file source, so a replayed tree uses its own zone). Without
/etc/localtime glibc runs the machine on UTC, and so do we. File modification times and
rpm's install times are seconds since the epoch, hence UTC.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Iterable
from typing import NamedTuple

from agent.context import ProbeContext
from agent.files import MAX_FILE_BYTES
from agent.parsers import apt, dnf, zypper
from agent.schema import MAX_SOFTWARE, Patches, PendingUpdate

# apt builds its package cache from every index in /var/lib/apt/lists; that build is most of
# the cost of asking apt for candidates (about 0.5 s CPU for Debian's main archive). Stock
# Debian and Ubuntu keep the result in /var/cache/apt/pkgcache.bin, but container-style
# images (and admins saving space) set Dir::Cache::pkgcache "". Then the agent keeps its own
# copy in its cache directory (systemd CacheDirectory=inventar). apt itself checks the copy
# against the lists and dpkg status and rebuilds it when stale, so it can never give an
# outdated answer.
APT_CACHE_DIR = "/var/cache/inventar"
APT_CACHE_FILE = "apt-pkgcache.bin"

# Package managers may refresh metadata or build caches: generous, but bounded.
COMMAND_TIMEOUT_S = 120.0
DNF_TIMEOUT_S = 300.0

# history.log and dpkg.log are rotated monthly; one month of logs above this is abnormal,
# and reading only a file's beginning would give a wrong (too old) time.
LOG_LIMIT_BYTES = 8 * MAX_FILE_BYTES

APT_LISTS = "/var/lib/apt/lists"
DPKG_STATUS = "/var/lib/dpkg/status"
# dpkg's status is about 1 KB per installed package (0.8 MB for 900 on Debian 12).
DPKG_STATUS_LIMIT_BYTES = 16 * MAX_FILE_BYTES
APT_UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"
SYSTEMD_TIMERS = "/etc/systemd/system/timers.target.wants"


def collect_linux(ctx: ProbeContext) -> Patches | None:
    if ctx.exists("/var/lib/dpkg/status") or ctx.exists("/usr/bin/apt"):
        return _collect_apt(ctx)
    if ctx.exists("/usr/bin/dnf"):
        return _collect_dnf(ctx)
    if ctx.exists("/usr/bin/zypper"):
        return _collect_zypper(ctx)
    ctx.error("no supported package manager found (apt, dnf, zypper)")
    return None


# --- shared helpers ---------------------------------------------------------------------


def _local_zone(ctx: ProbeContext) -> dt.tzinfo | None:
    try:
        data = ctx.files.read_bytes("/etc/localtime")
    except FileNotFoundError:
        return dt.UTC  # glibc's behaviour without /etc/localtime
    except OSError as exc:
        ctx.error(f"/etc/localtime: {exc.strerror or exc}")
        return None
    try:
        return zoneinfo.ZoneInfo.from_file(io.BytesIO(data))
    except (ValueError, OSError) as exc:
        ctx.error(f"/etc/localtime: not a time zone file: {exc}")
        return None


def _mtime(ctx: ProbeContext, path: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(ctx.files.mtime(path), dt.UTC)
    except OSError:
        return None


def _newest(times: Iterable[dt.datetime | None]) -> dt.datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


def _read_log(ctx: ProbeContext, path: str) -> str | None:
    """A log file's text; None if absent (normal) or unreadable/too big (an error)."""
    try:
        data = ctx.files.read_bytes(path, LOG_LIMIT_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        ctx.error(f"{path}: {exc.strerror or exc}")
        return None
    if len(data) > LOG_LIMIT_BYTES:
        ctx.error(f"{path}: larger than {LOG_LIMIT_BYTES} bytes, not read")
        return None
    return data.decode("utf-8", errors="replace")


def _rpm_last_install(ctx: ProbeContext) -> dt.datetime | None:
    out = ctx.output(dnf.RPM_INSTALLTIMES_ARGV, timeout=COMMAND_TIMEOUT_S)
    if out is None:
        return None
    newest = dnf.parse_install_times(out)
    if newest is None:
        ctx.error("rpm -qa: no install times")
        return None
    return dt.datetime.fromtimestamp(newest, dt.UTC)


class _Facts(NamedTuple):
    last_refresh: dt.datetime | None = None
    last_install: dt.datetime | None = None
    auto_updates: bool | None = None
    reboot_required: bool | None = None


def _patches(
    manager: str,
    facts: _Facts,
    pending: list[PendingUpdate] | None,
    security_count: int | None,
) -> Patches:
    return Patches(
        manager=manager,
        pending=None if pending is None else pending[:MAX_SOFTWARE],
        pending_count=None if pending is None else len(pending),
        pending_security_count=security_count,
        last_refresh=facts.last_refresh,
        last_install=facts.last_install,
        auto_updates=facts.auto_updates,
        reboot_required=facts.reboot_required,
    )


# --- apt --------------------------------------------------------------------------------


def _apt_policy_argv(ctx: ProbeContext, config: dict[str, str] | None) -> list[str]:
    argv = list(apt.APT_CACHE_POLICY_ARGV)
    if (
        config is not None
        and config.get("Dir::Cache::pkgcache") == ""
        and ctx.exists(APT_CACHE_DIR)
    ):
        argv += ["-o", f"Dir::Cache::pkgcache={APT_CACHE_DIR}/{APT_CACHE_FILE}"]
    return argv


def _apt_pending(ctx: ProbeContext, config: dict[str, str] | None) -> list[PendingUpdate] | None:
    """The upgradable packages: the installed ones from dpkg's status, their candidates from
    one `apt-cache policy` run (one apt process, no `apt list` formatting every upgradable
    version; see agent.parsers.apt)."""
    try:
        status = ctx.files.read_bytes(DPKG_STATUS, DPKG_STATUS_LIMIT_BYTES + 1)
    except OSError as exc:
        ctx.error(f"{DPKG_STATUS}: {exc.strerror or exc}")
        return None
    if len(status) > DPKG_STATUS_LIMIT_BYTES:
        ctx.error(f"{DPKG_STATUS}: larger than {DPKG_STATUS_LIMIT_BYTES} bytes, not read")
        return None
    installed = apt.parse_dpkg_status_installed(status.decode("utf-8", errors="replace"))
    if not installed:
        return []
    listing = ctx.output(
        [*_apt_policy_argv(ctx, config), "--", *installed], timeout=COMMAND_TIMEOUT_S
    )
    if listing is None:
        return None
    arch_of = {key.partition(":")[0]: arch for key, arch in installed.items()}
    return [
        PendingUpdate(
            name=u.name, installed=u.installed, available=u.available, security=u.security
        )
        for u in apt.parse_policy(listing, arch_of)
    ]


def _apt_last_refresh(ctx: ProbeContext) -> dt.datetime | None:
    # `apt update` rewrites the (In)Release file of every source it could reach; apt's
    # periodic job also touches update-success-stamp. The newest of them is the last refresh.
    names = [n for n in ctx.listdir(APT_LISTS) if n.endswith(("_InRelease", "_Release"))]
    newest = _newest(
        [_mtime(ctx, f"{APT_LISTS}/{n}") for n in names] + [_mtime(ctx, APT_UPDATE_STAMP)]
    )
    if newest is None:
        ctx.error(f"no Release files in {APT_LISTS}: package lists never refreshed or unreadable")
    return newest


def _apt_last_install(ctx: ProbeContext) -> dt.datetime | None:
    zone = _local_zone(ctx)
    if zone is None:
        return None
    history = _read_log(ctx, "/var/log/apt/history.log")
    if history is not None:
        when = apt.parse_history_log(history, zone)
        if when is not None:
            return when.astimezone(dt.UTC)
    # No history.log (minimal images) or just rotated: dpkg.log records every install too.
    dpkg_log = _read_log(ctx, "/var/log/dpkg.log")
    if dpkg_log is not None:
        when = apt.parse_dpkg_log(dpkg_log, zone)
        if when is not None:
            return when.astimezone(dt.UTC)
    ctx.error("no package installation recorded in /var/log/apt/history.log or /var/log/dpkg.log")
    return None


def _apt_auto_updates(ctx: ProbeContext, config: dict[str, str] | None) -> bool | None:
    if config is None:
        return None  # apt-config failed; its error is recorded
    value = config.get("APT::Periodic::Unattended-Upgrade")
    enabled = apt.periodic_enabled(value)
    if enabled is None:
        ctx.error(f"APT::Periodic::Unattended-Upgrade: value not understood: {value!r}")
        return None
    # The periodic setting only runs unattended-upgrade if that package is installed.
    return enabled and ctx.exists("/var/lib/dpkg/info/unattended-upgrades.list")


def _collect_apt(ctx: ProbeContext) -> Patches:
    dump = ctx.output(apt.APT_CONFIG_DUMP_ARGV, timeout=COMMAND_TIMEOUT_S)
    config = apt.parse_config_dump(dump) if dump is not None else None

    pending = _apt_pending(ctx, config)
    facts = _Facts(
        last_refresh=_apt_last_refresh(ctx),
        last_install=_apt_last_install(ctx),
        auto_updates=_apt_auto_updates(ctx, config),
        # Packages that need a reboot (kernel, libc, ...) create this file in their
        # postinst, via /usr/share/update-notifier/notify-reboot-required or directly.
        reboot_required=ctx.exists("/run/reboot-required"),
    )
    security = None if pending is None else sum(1 for p in pending if p.security)
    return _patches("apt", facts, pending, security)


# --- dnf --------------------------------------------------------------------------------


def _dnf_auto_updates(ctx: ProbeContext) -> bool | None:
    # dnf-automatic-install.timer always applies updates; dnf-automatic.timer applies them
    # only with apply_updates = yes in automatic.conf. dnf5 reads /etc/dnf/automatic.conf too
    # (and its drop-in /etc/dnf/dnf5-plugins/automatic.conf, which overrides it).
    timers = set(ctx.listdir(SYSTEMD_TIMERS))
    if {"dnf-automatic-install.timer"} & timers:
        return True
    if not {"dnf-automatic.timer", "dnf5-automatic.timer"} & timers:
        return False
    apply: bool | None = False
    for path in ("/etc/dnf/automatic.conf", "/etc/dnf/dnf5-plugins/automatic.conf"):
        text = ctx.text(path)
        if text is None:
            continue
        value = dnf.parse_automatic_apply(text)
        if value is None:
            ctx.error(f"{path}: apply_updates not understood")
        apply = value
    return apply


def _reboot_needed(ctx: ProbeContext, candidates: list[list[str]]) -> bool | None:
    """needs-restarting -r: exit 1 means a reboot is needed, 0 not."""
    for argv in candidates:
        result = ctx.run(argv, timeout=COMMAND_TIMEOUT_S)
        if result.error == "not-found":
            continue
        if result.exit_code in (0, 1):
            return result.exit_code == 1
        ctx.error(result.describe())
        return None
    ctx.error("needs-restarting not found (dnf-utils / dnf-plugins-core not installed)")
    return None


def _collect_dnf(ctx: ProbeContext) -> Patches:
    listing = ctx.output(
        dnf.DNF_CHECK_UPDATE_ARGV, timeout=DNF_TIMEOUT_S, ok_codes=dnf.DNF_CHECK_UPDATE_OK
    )
    secinfo = ctx.output(dnf.DNF_UPDATEINFO_SECURITY_ARGV, timeout=DNF_TIMEOUT_S)
    secure: set[tuple[str, str]] | None = None
    if secinfo is not None:
        secure = {(a.name, a.arch) for a in dnf.parse_updateinfo_security(secinfo)}
    last_refresh = _mtime(ctx, "/var/cache/dnf/last_makecache")
    if last_refresh is None:
        ctx.error("/var/cache/dnf/last_makecache: absent (dnf5 keeps no refresh stamp)")
    facts = _Facts(
        last_refresh=last_refresh,
        last_install=_rpm_last_install(ctx),
        auto_updates=_dnf_auto_updates(ctx),
        reboot_required=_reboot_needed(
            ctx, [["needs-restarting", "-r"], ["dnf", "needs-restarting", "-r"]]
        ),
    )
    if listing is None:
        return _patches("dnf", facts, None, None)
    pending = [
        PendingUpdate(
            name=u.name,
            available=u.available,
            # check-update does not print the installed version.
            installed=None,
            security=None if secure is None else (u.name, u.arch) in secure,
        )
        for u in dnf.parse_check_update(listing)
    ]
    count = None if secure is None else sum(1 for p in pending if p.security)
    return _patches("dnf", facts, pending, count)


# --- zypper -----------------------------------------------------------------------------


def _zypper_xml(ctx: ProbeContext, argv: tuple[str, ...]) -> str | None:
    result = ctx.run(argv, timeout=DNF_TIMEOUT_S)
    if result.exit_code not in zypper.ZYPPER_OK:
        ctx.error(result.describe())
        return None
    if result.exit_code == 106:
        ctx.error(f"{' '.join(argv)}: some repositories were skipped (exit 106)")
    return result.stdout


def _zypper_last_refresh(ctx: ProbeContext) -> dt.datetime | None:
    # zypper rebuilds /var/cache/zypp/solv/<repo>/solv on every refresh; "@System" is the
    # installed-package database, not a refresh.
    base = "/var/cache/zypp/solv"
    repos = [r for r in ctx.listdir(base) if r != "@System"]
    newest = _newest(_mtime(ctx, f"{base}/{r}/solv") for r in repos)
    if newest is None:
        ctx.error(f"no repository caches in {base}")
    return newest


def _collect_zypper(ctx: ProbeContext) -> Patches:
    # SUSE has no single switch for automatic updates (yast2-online-update-configuration,
    # transactional-update timers, cron jobs); not knowing is reported as unknown, not off.
    ctx.error("automatic updates are not determined on zypper systems")
    reboot: bool | None = None
    result = ctx.run(["zypper", "needs-rebooting"], timeout=COMMAND_TIMEOUT_S)
    if result.exit_code in (0, 102):  # 102: ZYPPER_EXIT_INF_REBOOT_NEEDED
        reboot = result.exit_code == 102
    else:
        ctx.error(result.describe())
    facts = _Facts(
        last_refresh=_zypper_last_refresh(ctx),
        last_install=_rpm_last_install(ctx),
        auto_updates=None,
        reboot_required=reboot,
    )
    updates_xml = _zypper_xml(ctx, zypper.ZYPPER_LIST_UPDATES_ARGV)
    patches_xml = _zypper_xml(ctx, zypper.ZYPPER_LIST_SECURITY_PATCHES_ARGV)
    try:
        updates = zypper.parse_list_updates(updates_xml) if updates_xml is not None else None
        patches = zypper.parse_list_patches(patches_xml) if patches_xml is not None else None
    except (zypper.UnsafeXml, zypper.ParseError) as exc:
        ctx.error(f"zypper XML: {exc}")
        return _patches("zypper", facts, None, None)
    # zypper does not say which packages a patch updates (that needs `zypper info` per
    # patch), so on zypper the security count is the number of needed security patches,
    # the advisories SUSE publishes, and each package's security flag stays unknown.
    security_count = (
        None
        if patches is None
        else sum(1 for p in patches if p.category == "security" and p.status == "needed")
    )
    pending = (
        None
        if updates is None
        else [
            PendingUpdate(name=u.name, installed=u.installed, available=u.available)
            for u in updates
        ]
    )
    return _patches("zypper", facts, pending, security_count)
