"""``softwareupdate -l`` (macOS): pending updates."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LABEL = re.compile(r"^\s*\*\s*Label:\s*(?P<label>.+?)\s*$")
_TITLE = re.compile(r"Title:\s*(?P<title>[^,]+),\s*Version:\s*(?P<version>[^,]+),")


@dataclass(frozen=True)
class Update:
    label: str
    title: str | None
    version: str | None
    restart: bool | None


def parse_list(text: str) -> list[Update] | None:
    """The pending updates; None when the output is neither a list nor "No new software"."""
    if "No new software available" in text:
        return []
    updates: list[Update] = []
    for line in text.splitlines():
        label = _LABEL.match(line)
        if label:
            updates.append(Update(label["label"], None, None, None))
            continue
        title = _TITLE.search(line)
        if title and updates and updates[-1].title is None:
            last = updates[-1]
            restart = "Action: restart" in line or "[restart]" in line
            updates[-1] = Update(
                last.label, title["title"].strip(), title["version"].strip(), restart
            )
    if not updates and "Software Update found" not in text:
        return None
    return updates
