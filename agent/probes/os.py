"""The operating system: os-release, kernel, architecture, boot and install time."""

from __future__ import annotations

import datetime as dt
import platform

from agent.context import ProbeContext
from agent.parsers.os_release import parse_os_release
from agent.parsers.ubuntu_pro import STATUS_FILE, ProStatusError, esm_enabled
from agent.schema import OperatingSystem


def collect_linux(ctx: ProbeContext) -> OperatingSystem:
    info = OperatingSystem(family="linux")
    text = ctx.text("/etc/os-release") or ctx.text("/usr/lib/os-release")
    if text is None:
        ctx.error("neither /etc/os-release nor /usr/lib/os-release readable")
    else:
        release = parse_os_release(text)
        info.name = release.get("NAME")
        info.version = release.get("VERSION_ID")
        info.edition = release.get("VARIANT") or None
        # Debian keeps its point release (12.8) outside os-release.
        info.build = ctx.attr("/etc/debian_version") or release.get("BUILD_ID") or None
        # Debian testing/sid and some derivatives name no codename: unknown, not guessed.
        info.codename = release.get("VERSION_CODENAME") or None
        if release.get("ID") == "ubuntu":
            info.ubuntu_pro = _ubuntu_pro(ctx)
    info.kernel = ctx.attr("/proc/sys/kernel/osrelease")
    if info.kernel is None:
        ctx.error("/proc/sys/kernel/osrelease not readable")
    info.arch = ctx.fact("platform.machine", platform.machine) or None
    info.boot_time = _boot_time(ctx)
    info.install_date = _install_date(ctx)
    return info


def _ubuntu_pro(ctx: ProbeContext) -> bool | None:
    text = ctx.text(STATUS_FILE)
    if text is None:
        ctx.error(f"Ubuntu Pro: {STATUS_FILE} not readable (Pro client absent or never run)")
        return None
    try:
        return esm_enabled(text)
    except ProStatusError as exc:
        ctx.error(f"Ubuntu Pro: {STATUS_FILE}: {exc}")
        return None


def _boot_time(ctx: ProbeContext) -> dt.datetime | None:
    for line in (ctx.text("/proc/stat", required=True) or "").splitlines():
        if line.startswith("btime "):
            return dt.datetime.fromtimestamp(int(line.split()[1]), dt.UTC)
    ctx.error("/proc/stat has no btime line")
    return None


def _install_date(ctx: ProbeContext) -> dt.datetime | None:
    # Debian's and Ubuntu's installers leave /var/log/installer; anaconda leaves its log in
    # /root. A system without either (images, containers) has no knowable install date.
    for path in ("/var/log/installer", "/root/anaconda-ks.cfg", "/var/log/anaconda"):
        try:
            return dt.datetime.fromtimestamp(ctx.files.mtime(path), dt.UTC)
        except OSError:
            continue
    ctx.error("install date: no installer log (/var/log/installer, anaconda) found")
    return None
