"""Pending updates from the Windows Update Agent, as mondoo's cnquery asks for them (the
script is ``agent.probes.windows.patches.WUA_SCRIPT``): ``ConvertTo-Json`` of objects with
Title, MsrcSeverity, CategoryIDs, KBArticleIDs, RebootRequired, UpdateID, RevisionNumber,
SecurityBulletinIDs and CveIDs. Windows PowerShell prints one update as an object, none as
nothing at all."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The WSUS classification "Security Updates" (a fixed GUID, documented by Microsoft).
SECURITY_UPDATES = "0fa1201d-4330-4fa8-8ae9-b877473b6441"


@dataclass(frozen=True)
class WuaUpdate:
    title: str | None
    kbs: tuple[str, ...]
    severity: str | None
    reboot_required: bool | None
    security: bool


def parse_updates(text: str) -> list[WuaUpdate] | None:
    """The pending updates; None when the text is not that JSON."""
    if not text.strip():
        return []
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(u, dict) for u in data):
        return None
    updates = []
    for u in data:
        categories = u.get("CategoryIDs") if isinstance(u.get("CategoryIDs"), list) else []
        kbs = u.get("KBArticleIDs") if isinstance(u.get("KBArticleIDs"), list) else []
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
