"""PowerShell's list view (``Format-List``, and the default view of many CIM classes):
``Name : Value`` records separated by blank lines. Property names are the class's, never
translated; long values continue on indented lines."""

from __future__ import annotations

import re

_PROP = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s?(?P<value>.*)$")


def parse_list(text: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            current, last = None, None
            continue
        match = _PROP.match(line)
        if match:
            if current is None:
                current = {}
                records.append(current)
            last = match["name"]
            current[last] = match["value"].strip()
        elif current is not None and last is not None and line.startswith(" "):
            current[last] = (current[last] + " " + line.strip()).strip()
    return records
