"""apt and dpkg: pending updates, the configuration, and when packages were last installed.

Everything here is pure: text in, data out. Times in apt's and dpkg's logs are the machine's
local wall-clock time without an offset, so the caller passes the machine's time zone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# `apt list --upgradable` needs no root and no lock; LC_ALL=C (set by the runner) keeps it
# English. Its stderr warning about the unstable CLI is expected and ignored.
APT_LIST_UPGRADABLE_ARGV = ("apt", "list", "--upgradable")
APT_CONFIG_DUMP_ARGV = ("apt-config", "dump")

# "openssl/stable-security 3.0.15-1~deb12u1 amd64 [upgradable from: 3.0.14-1~deb12u2]".
# The part after "/" names the suites (archives) that offer the candidate version, comma
# separated: "krb5-locales/oldstable,oldstable-security 1.20.1-2+deb12u5 all [...]".
_UPGRADABLE = re.compile(
    r"^(?P<name>[^/\s]+)/(?P<suites>\S+)\s+(?P<available>\S+)\s+(?P<arch>\S+)"
    r"\s+\[upgradable from: (?P<installed>[^\]\s]+)\]"
)

# `apt-cache policy NAME...` gives each package's installed and candidate version and where
# each version comes from. It costs what building apt's cache costs (the same as `apt list`)
# but no per-package formatting of every upgradable version; asked for the installed
# packages only, it is about 0.2 s of CPU cheaper than `apt list --upgradable` on Debian 12.
APT_CACHE_POLICY_ARGV = ("apt-cache", "policy")

# dpkg states in which a package has a current version for apt (apt's pkgCacheGenerator
# gives it CurrentVer unless it is "not-installed" or "config-files").
_NO_CURRENT_VERSION = {"not-installed", "config-files"}

# " *** 3.0.14-1~deb12u2 100" (the installed version) or "     3.0.15-1~deb12u1 500".
_POLICY_VERSION = re.compile(r"^ (?P<mark>\*\*\*| {3}) (?P<version>\S+) (?P<prio>-?\d+)$")
# "        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages"
_POLICY_SOURCE = re.compile(r"^ {8}(?P<prio>-?\d+) (?P<where>.+)$")

# `apt-config dump` prints `Key "value";`; list items have keys ending in "::".
_CONFIG_LINE = re.compile(r'^(?P<key>\S+)\s+"(?P<value>(?:[^"\\]|\\.)*)";\s*$')

# An APT::Periodic interval: "0" is off; a number of days, optionally with a unit suffix
# (s, m, h, d — apt.systemd.daily accepts them since apt 1.1), or "always", is on.
_INTERVAL = re.compile(r"^(?P<number>\d+)(?P<unit>[smhd]?)$")

# dpkg.log: "2026-11-25 21:06:44 status installed man-db:amd64 2.11.2-2".
_DPKG_INSTALLED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) status installed ")


@dataclass(frozen=True)
class AptUpgrade:
    name: str
    installed: str
    available: str
    arch: str
    suites: tuple[str, ...]

    @property
    def security(self) -> bool:
        # Debian ("bookworm-security", "oldstable-security") and Ubuntu ("noble-security")
        # both publish security fixes in a suite whose name ends in "-security"; the
        # candidate counts as a security update when any suite offering it is one.
        return any(suite.endswith("-security") for suite in self.suites)


def parse_upgradable(text: str) -> list[AptUpgrade]:
    """The lines of `apt list --upgradable` stdout; "Listing..." and anything else skipped."""
    upgrades: list[AptUpgrade] = []
    for line in text.splitlines():
        match = _UPGRADABLE.match(line.strip())
        if match is None:
            continue
        upgrades.append(
            AptUpgrade(
                name=match["name"],
                installed=match["installed"],
                available=match["available"],
                arch=match["arch"],
                suites=tuple(s for s in match["suites"].split(",") if s),
            )
        )
    return upgrades


def parse_config_dump(text: str) -> dict[str, str]:
    """`apt-config dump` as key -> value; for repeated keys the last value wins."""
    config: dict[str, str] = {}
    for line in text.splitlines():
        match = _CONFIG_LINE.match(line.strip())
        if match is not None:
            config[match["key"]] = match["value"]
    return config


def periodic_enabled(value: str | None) -> bool | None:
    """Whether an APT::Periodic::* value switches the job on; None if not understood.

    An absent key is apt's default, "0" (off): apt.systemd.daily reads it that way.
    """
    if value is None:
        return False
    text = value.strip().lower()
    if text == "always":
        return True
    match = _INTERVAL.match(text)
    if match is None:
        return None
    return int(match["number"]) > 0


def _parse_local(stamp: str, tz: dt.tzinfo) -> dt.datetime | None:
    try:
        naive = dt.datetime.strptime(" ".join(stamp.split()), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return naive.replace(tzinfo=tz)


def parse_history_log(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    """The End-Date of the newest transaction in /var/log/apt/history.log that installed or
    upgraded packages; removals and purges bring no fixes, so they do not count.

    A transaction that never wrote its End-Date (interrupted) is skipped: it did not finish.
    """
    newest: dt.datetime | None = None
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(": ")
            if sep:
                fields[key.strip()] = value.strip()
        if "End-Date" not in fields or not ("Install" in fields or "Upgrade" in fields):
            continue
        when = _parse_local(fields["End-Date"], tz)
        if when is not None and (newest is None or when > newest):
            newest = when
    return newest


def parse_dpkg_log(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    """The newest "status installed" line of /var/log/dpkg.log (used without history.log).

    The maximum rather than the last line, so that a log appended out of order still gives
    the newest time.
    """
    newest: str | None = None
    for line in text.splitlines():
        match = _DPKG_INSTALLED.match(line)
        if match is not None and (newest is None or match[1] > newest):
            newest = match[1]  # ISO-like stamps sort as text
    return _parse_local(newest, tz) if newest is not None else None


def parse_dpkg_status_installed(text: str) -> dict[str, str]:
    """name:arch -> arch of every package of /var/lib/dpkg/status that has an installed
    version, in file order (the arguments for :data:`APT_CACHE_POLICY_ARGV`)."""
    installed: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        name = arch = state = None
        for line in stanza.splitlines():
            if line.startswith("Package: "):
                name = line[9:].strip()
            elif line.startswith("Architecture: "):
                arch = line[14:].strip()
            elif line.startswith("Status: "):
                words = line[8:].split()
                state = words[2] if len(words) == 3 else None
        if name and state is not None and state not in _NO_CURRENT_VERSION:
            installed[f"{name}:{arch}" if arch else name] = arch or ""
    return installed


@dataclass
class _PolicyEntry:
    header: str
    installed: str | None = None
    candidate: str | None = None
    seen_installed: bool = False
    upgradable: bool = False
    suites: list[str] = field(default_factory=list)


def parse_policy(text: str, arch_of: Mapping[str, str] | None = None) -> list[AptUpgrade]:
    """The upgradable packages in `apt-cache policy NAME...` output: those whose candidate
    is newer than the installed version, as `apt list --upgradable` lists them.

    apt prints a package's version table newest first and marks the installed version with
    "***"; a candidate listed above that mark is an upgrade (a pin that makes an older
    version the candidate is a downgrade, which apt does not list as upgradable either).
    The suites are the distributions of the sources that offer the candidate (the
    sources.list suite, "bookworm-security" where `apt list` says the archive,
    "stable-security"; both end in "-security"). apt names a package of the native
    architecture or "all" without ":arch"; ``arch_of`` (name -> architecture, from dpkg's
    status) supplies it.
    """
    upgrades: list[AptUpgrade] = []

    def finish(entry: _PolicyEntry | None) -> None:
        if entry is None or not entry.upgradable:
            return
        name, _, arch = entry.header.partition(":")
        assert entry.installed is not None and entry.candidate is not None
        upgrades.append(
            AptUpgrade(
                name=name,
                installed=entry.installed,
                available=entry.candidate,
                arch=arch or (arch_of or {}).get(name, ""),
                suites=tuple(entry.suites),
            )
        )

    entry: _PolicyEntry | None = None
    in_candidate = False
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            finish(entry)
            entry = _PolicyEntry(line[:-1])
            in_candidate = False
            continue
        if entry is None:
            continue
        stripped = line.strip()
        if stripped.startswith("Installed: "):
            entry.installed = stripped[11:]
        elif stripped.startswith("Candidate: "):
            entry.candidate = stripped[11:]
        elif (version := _POLICY_VERSION.match(line)) is not None:
            in_candidate = version["version"] == entry.candidate
            if (
                in_candidate
                and not entry.seen_installed
                and entry.installed not in (None, "(none)")
                and entry.candidate != entry.installed
            ):
                entry.upgradable = True
            if version["mark"] == "***":
                entry.seen_installed = True  # versions below it are older
        elif in_candidate and (source := _POLICY_SOURCE.match(line)) is not None:
            # "URI SUITE/COMPONENT ARCH Packages"; dpkg's status file has no suite.
            words = source["where"].split()
            if len(words) >= 3 and words[-1] == "Packages":
                entry.suites.append(words[1].split("/", 1)[0])
    finish(entry)
    return upgrades
