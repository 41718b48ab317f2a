"""apt and dpkg: pending updates, the configuration, and when packages were last installed.

Everything here is pure: text in, data out. Times in apt's and dpkg's logs are the machine's
local wall-clock time without an offset, so the caller passes the machine's time zone.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

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
