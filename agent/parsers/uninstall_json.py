"""Installed programs from the Uninstall registry keys, as mondoo's cnquery reads them (the
script is ``agent.probes.windows.software.UNINSTALL_SCRIPT``): ``ConvertTo-Json -Compress`` of
objects with DisplayName, DisplayVersion, Publisher, EstimatedSize, InstallSource and
UninstallString. Keys without a DisplayName (components, leftovers) are not programs; one
program can appear under several keys and is reported once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Program:
    name: str
    version: str | None
    publisher: str | None


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def parse_programs(text: str) -> list[Program] | None:
    """The programs; None when the text is not that JSON."""
    if not text.strip():
        return []
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):  # ConvertTo-Json prints a single object without an array
        data = [data]
    if not isinstance(data, list):
        return None
    seen: set[tuple[str, str | None]] = set()
    programs = []
    for entry in data:
        if not isinstance(entry, dict):
            continue
        name = _text(entry.get("DisplayName"))
        if name is None:
            continue
        version = _text(entry.get("DisplayVersion"))
        if (name, version) in seen:
            continue
        seen.add((name, version))
        programs.append(Program(name, version, _text(entry.get("Publisher"))))
    return programs
