"""``wmic qfe get Caption,Description,HotFixID,InstalledOn``: the installed hotfixes.

wmic prints a header of property names and pads every column to its widest value; captured
output has a blank line after each row (wmic ends lines with CR CR LF). ``InstalledOn`` is the
raw WMI string, which Windows 7 and later write as month/day/year whatever the display
language (PowerShell's ``Get-HotFix`` parses it with the invariant culture for that reason);
older systems put a hexadecimal FILETIME there, which is not read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


@dataclass(frozen=True)
class Hotfix:
    kb: str
    description: str | None
    installed_on: dt.date | None


def _date(value: str) -> dt.date | None:
    match = _DATE.match(value)
    if not match:
        return None
    month, day, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_qfe(text: str) -> list[Hotfix]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or "HotFixID" not in lines[0].split():
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    hotfixes = []
    for line in lines[1:]:
        cells = {
            name: line[start:end].strip()
            for name, start, end in zip(names, starts, [*starts[1:], len(line)], strict=True)
        }
        kb = cells.get("HotFixID")
        if not kb:
            continue
        hotfixes.append(
            Hotfix(
                kb=kb,
                description=cells.get("Description") or None,
                installed_on=_date(cells.get("InstalledOn", "")),
            )
        )
    return hotfixes
