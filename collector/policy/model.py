"""Plain data of the policy engine: results, waivers, statuses (no I/O, no CEL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "unknown", "not-applicable", "waived"]
Category = Literal["security", "ergonomics", "lifecycle"]
Severity = Literal["critical", "high", "medium", "low", "info"]

STATUSES: tuple[Status, ...] = ("pass", "fail", "unknown", "not-applicable", "waived")
CATEGORIES: tuple[Category, ...] = ("security", "ergonomics", "lifecycle")
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one check on one host: what `policy eval --format json` prints."""

    check: str
    status: Status
    severity: Severity
    category: Category
    message: str
    # The message in every language ("de", "en"); ``message`` is the one asked for.
    messages: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "status": self.status,
            "severity": self.severity,
            "category": self.category,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Waiver:
    """An accepted exception: a failing ``check`` on a host or a whole site is shown as
    ``waived`` (never hidden) up to and including ``until``.

    ``host`` matches the report's ``host.machine_id``, ``host.hostname`` or ``host.fqdn``
    (names case-insensitively); ``site`` matches ``host.site``. Exactly one of them is set.
    The collector stores waivers in its database and passes them in as this plain data.
    """

    check: str
    reason: str
    until: dt.date
    host: str | None = None
    site: str | None = None

    def __post_init__(self) -> None:
        if (self.host is None) == (self.site is None):
            raise ValueError("a waiver names exactly one of host or site")
        if not self.reason.strip():
            raise ValueError("a waiver needs a reason")

    def matches(self, check: str, host: dict[str, Any] | None) -> bool:
        if check != self.check or not host:
            return False
        if self.site is not None:
            return host.get("site") == self.site
        wanted = (self.host or "").lower()
        return any(
            isinstance(host.get(key), str) and str(host.get(key)).lower() == wanted
            for key in ("machine_id", "hostname", "fqdn")
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Waiver:
        until = data["until"]
        if isinstance(until, str):
            until = dt.date.fromisoformat(until)
        return cls(
            check=str(data["check"]),
            reason=str(data["reason"]),
            until=until,
            host=data.get("host"),
            site=data.get("site"),
        )
