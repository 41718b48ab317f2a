"""``systeminfo`` (list format), English and German.

Labels are localized and aligned with spaces; some labels contain colons themselves
("Virtual Memory: Max Size:"), so lines are matched against the known labels rather than
split at the first colon. Dates are in the machine's regional format and local time:
``2/16/2021, 11:20:27 AM`` (en-US, month first), ``09.05.2025, 21:57:22`` (German, day
first). The UTC offset comes from the ``Time Zone``/``Zeitzone`` line — its standard
offset, so a time in summer (DST) is off by the DST shift; that is documented, not hidden.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

_LABELS = {
    "host name": "hostname",
    "hostname": "hostname",
    "os name": "os_name",
    "betriebssystemname": "os_name",
    "os version": "os_version",
    "betriebssystemversion": "os_version",
    "original install date": "install_date",
    "ursprüngliches installationsdatum": "install_date",
    "system boot time": "boot_time",
    "systemstartzeit": "boot_time",
    "system manufacturer": "manufacturer",
    "systemhersteller": "manufacturer",
    "system model": "model",
    "systemmodell": "model",
    "system type": "system_type",
    "systemtyp": "system_type",
    "bios version": "bios",
    "bios-version": "bios",
    "time zone": "time_zone",
    "zeitzone": "time_zone",
    "total physical memory": "memory",
    "gesamter physischer speicher": "memory",
    "gesamter physikalischer speicher": "memory",  # Windows 7
    "hotfix(s)": "hotfixes",
    "hotfix(es)": "hotfixes",
}
_LINE = re.compile(r"^(?P<label>[^\s:][^:]*?):\s*(?P<value>.*?)\s*$")
_KB = re.compile(r"\[\d+\]:\s*(KB\d+)", re.IGNORECASE)
_OFFSET = re.compile(r"\(UTC(?:(?P<sign>[+-])(?P<h>\d{2}):(?P<m>\d{2}))?\)")
_DATE = re.compile(
    r"^(?P<a>\d{1,4})[./-](?P<b>\d{1,2})[./-](?P<c>\d{2,4}),?\s+"
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<ampm>AM|PM)?",
    re.IGNORECASE,
)


@dataclass
class SystemInfo:
    values: dict[str, str] = field(default_factory=dict)
    hotfixes: list[str] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        return self.values.get(key) or None

    @property
    def memory_bytes(self) -> int | None:
        text = self.get("memory")
        if not text:
            return None
        digits = re.sub(r"[^\d]", "", text.split("MB")[0])
        return int(digits) * 1024 * 1024 if digits else None

    @property
    def version(self) -> str | None:
        text = self.get("os_version")
        return text.split()[0] if text else None

    @property
    def build(self) -> str | None:
        text = self.get("os_version")
        match = re.search(r"Build\s+(\d+)", text or "")
        return match.group(1) if match else None

    @property
    def arch(self) -> str | None:
        text = (self.get("system_type") or "").casefold()
        if text.startswith("x64"):
            return "x86_64"
        if text.startswith("arm64"):
            return "arm64"
        if text.startswith("x86"):
            return "x86"
        return None

    @property
    def utc_offset(self) -> dt.timezone | None:
        match = _OFFSET.search(self.get("time_zone") or "")
        if not match:
            return None
        if not match["sign"]:
            return dt.UTC
        minutes = int(match["h"]) * 60 + int(match["m"])
        return dt.timezone(dt.timedelta(minutes=-minutes if match["sign"] == "-" else minutes))

    def datetime(self, key: str) -> dt.datetime | None:
        """A time in UTC, or None; a wall-clock time without a known zone must not pass
        as UTC."""
        tz = self.utc_offset
        if tz is None:
            return None
        return parse_local_datetime(self.get(key), tz)

    @property
    def bios(self) -> tuple[str | None, dt.date | None]:
        """``BIOS Version``: "<vendor> <version>, <date>" -> (text before the date, date)."""
        text = self.get("bios")
        if not text:
            return None, None
        head, _, tail = text.rpartition(",")
        parsed = parse_local_datetime(tail.strip() + " 00:00", None)
        if head and parsed is not None:
            return head.strip(), parsed.date()
        return text, None


def parse_local_datetime(text: str | None, tz: dt.tzinfo | None) -> dt.datetime | None:
    """A date as systeminfo prints it. Dots: day first (German); slashes: month first
    (en-US) unless the first number cannot be a month. With ``tz`` the result is UTC;
    without, it is naive wall-clock time."""
    if not text:
        return None
    match = _DATE.match(text.strip())
    if not match:
        return None
    a, b, c = int(match["a"]), int(match["b"]), int(match["c"])
    sep = text.strip()[len(match["a"])]
    if len(match["a"]) == 4:
        year, month, day = a, b, c
    elif sep == "." or a > 12:
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    if year < 100:
        year += 2000
    hour = int(match["H"])
    ampm = (match["ampm"] or "").upper()
    if ampm == "PM" and hour < 12:
        hour += 12
    elif ampm == "AM" and hour == 12:
        hour = 0
    try:
        value = dt.datetime(year, month, day, hour, int(match["M"]), int(match["S"] or 0))
    except ValueError:
        return None
    if tz is None:
        return value  # naive: the caller decides (a date alone needs no zone)
    return value.replace(tzinfo=tz).astimezone(dt.UTC)


def parse_systeminfo(text: str) -> SystemInfo:
    info = SystemInfo()
    current: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            if current == "hotfixes":
                match = _KB.search(line)
                if match:
                    info.hotfixes.append(match.group(1).upper())
            continue
        match = _LINE.match(line)
        current = None
        if not match:
            continue
        key = _LABELS.get(match["label"].strip().casefold())
        if key is None:
            continue
        current = key
        info.values.setdefault(key, match["value"])
    return info
