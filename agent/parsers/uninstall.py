"""Installed programs from the Uninstall registry keys
(``HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\<key>``, both views).

What Windows' own "Programs and Features" leaves out is left out here too: keys without a
DisplayName, ``SystemComponent = 1`` (parts of Windows or of another product), and updates
registered as their own key (a ``ParentKeyName``, or a ``ReleaseType`` such as "Security
Update", "Update", "Hotfix"; Windows XP's keys have 255 of them). A program under both views
(or twice in one) is reported once. ``InstallDate`` is ``YYYYMMDD`` text when it is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from agent.parsers.regvalues import Values, dword, has, text

# ReleaseType values of updates (as seen in real exports: "Security Update", "Update",
# "Hotfix", "HotFix", "%HOTFIX%", "Software Update"; "Update Rollup", "Service Pack").
_UPDATE_WORDS = ("update", "hotfix", "service pack", "rollup")


@dataclass(frozen=True)
class Program:
    name: str
    version: str | None
    publisher: str | None
    install_date: dt.date | None


def is_program(values: Values) -> bool:
    if text(values, "DisplayName") is None:
        return False
    if dword(values, "SystemComponent") == 1:
        return False
    if has(values, "ParentKeyName"):
        return False
    release = (text(values, "ReleaseType") or "").strip("%").casefold()
    return not any(word in release for word in _UPDATE_WORDS)


def install_date(value: str | None) -> dt.date | None:
    if value is None or len(value) != 8 or not value.isdigit():
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def programs(keys: Iterable[Values]) -> list[Program]:
    seen: set[tuple[str, str | None]] = set()
    out = []
    for values in keys:
        if not is_program(values):
            continue
        name = text(values, "DisplayName") or ""
        version = text(values, "DisplayVersion")
        if (name.casefold(), version) in seen:
            continue
        seen.add((name.casefold(), version))
        out.append(
            Program(
                name=name,
                version=version,
                publisher=text(values, "Publisher"),
                install_date=install_date(text(values, "InstallDate")),
            )
        )
    return out
