"""Installed programs from the Uninstall registry keys: ``ConvertTo-Json`` of the keys'
properties, of which DisplayName, DisplayVersion and Publisher are read (others, such as the
EstimatedSize, InstallSource and UninstallString of the captured cnquery query, are ignored).
Keys without a DisplayName (components, leftovers) are not programs; one
program can appear under several keys and is reported once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.parsers.powershell_json import parse_objects


@dataclass(frozen=True)
class Program:
    name: str
    version: str | None
    publisher: str | None


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def parse_programs(text: str) -> list[Program] | None:
    """The programs; None when the text is not that JSON."""
    data = parse_objects(text)
    if data is None:
        return None
    seen: set[tuple[str, str | None]] = set()
    programs = []
    for entry in data:
        name = _text(entry.get("DisplayName"))
        if name is None:
            continue
        version = _text(entry.get("DisplayVersion"))
        if (name, version) in seen:
            continue
        seen.add((name, version))
        programs.append(Program(name, version, _text(entry.get("Publisher"))))
    return programs
