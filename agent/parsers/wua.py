"""The Windows Update Agent's answers (as recorded: plain dicts of the COM properties) as
pending updates and as the date of the last successful update.

Security is decided by what Windows Update says in every language alike, never by the
title (German Windows says "Sicherheitsupdate", "Kumulatives Update"): an update is a
security update when it carries an ``MsrcSeverity`` (Critical, Important, Moderate, Low: the
MSRC rating that only security updates have) or the classification category "Security
Updates". Microsoft's WSUS classification GUIDs
(https://learn.microsoft.com/previous-versions/windows/desktop/ff357803(v=vs.85)):
Security Updates 0FA1201D-4330-4FA8-8AE9-B877473B6441, Critical Updates
E6CF1350-C01B-414D-A61F-263D14D133B4 ("a critical, non-security-related bug" in Microsoft's
terminology, so not counted as security), Definition Updates
E0789628-CE08-4437-BE74-2495B842F43B. An update whose record has neither property (a list
that printed only KB and title) is of unknown security.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SECURITY_UPDATES = "0fa1201d-4330-4fa8-8ae9-b877473b6441"
CRITICAL_UPDATES = "e6cf1350-c01b-414d-a61f-263d14d133b4"
DEFINITION_UPDATES = "e0789628-ce08-4437-be74-2495b842f43b"
SEVERITIES = ("critical", "important", "moderate", "low")

# IUpdateHistoryEntry.Operation and .ResultCode (UpdateOperation, OperationResultCode).
UNINSTALLATION = 2
SUCCEEDED = (2, 3)  # orcSucceeded, orcSucceededWithErrors


class WuaDataError(ValueError):
    """A record that is not what the Windows Update Agent gives."""


@dataclass(frozen=True)
class Update:
    title: str | None
    kbs: tuple[str, ...]
    severity: str | None
    categories: tuple[str, ...] | None  # None: not recorded
    reboot_required: bool | None
    security: bool | None


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise WuaDataError(f"{what} is not a list")
    return [str(v) for v in value]


def _title(record: Mapping[str, Any]) -> str | None:
    title = record.get("Title")
    return title.strip() or None if isinstance(title, str) else None


def update(record: Mapping[str, Any]) -> Update:
    categories = None
    if "CategoryIDs" in record:
        categories = tuple(c.lower() for c in _str_list(record["CategoryIDs"], "CategoryIDs"))
    severity = record.get("MsrcSeverity")
    if severity is not None and not isinstance(severity, str):
        raise WuaDataError("MsrcSeverity is not text")
    severity = severity or None
    if severity is not None and severity.casefold() not in SEVERITIES:
        raise WuaDataError(f"MsrcSeverity {severity[:40]!r} is none of MSRC's ratings")
    if severity is not None or (categories is not None and SECURITY_UPDATES in categories):
        security: bool | None = True
    elif categories is None and "MsrcSeverity" not in record:
        security = None
    else:
        security = False
    reboot = record.get("RebootRequired")
    return Update(
        title=_title(record),
        kbs=tuple(f"KB{k}" for k in _str_list(record.get("KBArticleIDs", []), "KBArticleIDs")),
        severity=severity,
        categories=categories,
        reboot_required=reboot if isinstance(reboot, bool) else None,
        security=security,
    )


def updates(records: Sequence[Mapping[str, Any]]) -> list[Update]:
    return [update(r) for r in records]


def _date(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def last_success(records: Sequence[Mapping[str, Any]]) -> dt.datetime | None:
    """The newest history entry that succeeded and is not an uninstallation or a Defender
    definition update (those come several times a day and say nothing of the OS's patch
    state). An entry without an Operation (a source that did not print it) counts."""
    newest: dt.datetime | None = None
    for record in records:
        if record.get("ResultCode") not in SUCCEEDED:
            continue
        if record.get("Operation") == UNINSTALLATION:
            continue
        categories = record.get("CategoryIDs")
        if isinstance(categories, list) and DEFINITION_UPDATES in (
            str(c).lower() for c in categories
        ):
            continue
        when = _date(record.get("Date"))
        if when is not None and (newest is None or when > newest):
            newest = when
    return newest
