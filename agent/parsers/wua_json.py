"""Pending updates from the Windows Update Agent: ``ConvertTo-Json`` of objects with (at
least) Title, MsrcSeverity, CategoryIDs, KBArticleIDs and RebootRequired, as the probe's
query prints them and as mondoo cnquery's query (the real capture in the tests, which adds
UpdateID, RevisionNumber, SecurityBulletinIDs and CveIDs) does. Windows PowerShell prints one
update as an object, none as nothing at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.parsers.powershell_json import parse_objects

# The WSUS classification "Security Updates" (a fixed GUID, documented by Microsoft).
SECURITY_UPDATES = "0fa1201d-4330-4fa8-8ae9-b877473b6441"


@dataclass(frozen=True)
class WuaUpdate:
    title: str | None
    kbs: tuple[str, ...]
    severity: str | None
    reboot_required: bool | None
    security: bool


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_updates(text: str) -> list[WuaUpdate] | None:
    """The pending updates; None when the text is not that JSON."""
    data = parse_objects(text)
    if data is None:
        return None
    updates = []
    for u in data:
        categories = _list(u.get("CategoryIDs"))
        kbs = _list(u.get("KBArticleIDs"))
        severity = u.get("MsrcSeverity") if isinstance(u.get("MsrcSeverity"), str) else None
        reboot = u.get("RebootRequired")
        updates.append(
            WuaUpdate(
                title=str(u["Title"]) if u.get("Title") is not None else None,
                kbs=tuple(f"KB{k}" for k in kbs if isinstance(k, str | int)),
                severity=severity or None,
                reboot_required=reboot if isinstance(reboot, bool) else None,
                security=bool(severity) or SECURITY_UPDATES in categories,
            )
        )
    return updates
