"""The hosts list's URL: query parameters <-> HostFilter, sorting and paging, validated with
limits (a bad value is a 400 that says which parameter and why). The same parameters drive
the page, its CSV export and the links of the overview and the findings matrix, so a list is
bookmarkable and an export holds exactly what the list shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from collector.models import SITE_KINDS
from collector.policy.model import SEVERITIES, STATUSES
from collector.queries.hosts import SORTS, HostFilter

OS_FAMILIES = ("linux", "windows", "darwin")
CHASSIS = ("desktop", "laptop", "tablet", "server", "vm", "other")
ROLES = ("workplace", "classroom", "pupil-device", "kiosk", "server", "other")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
MAX_DAYS = 36500
MAX_TEXT = 200


class BadParameter(ValueError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class HostsQuery:
    """Everything the hosts list's URL says."""

    filter: HostFilter = field(default_factory=HostFilter)
    sort: str = "hostname"
    descending: bool = False
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def _text(params: Mapping[str, str], name: str, limit: int = 256) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise BadParameter(name, f"at most {limit} characters")
    if any(ord(c) < 32 for c in value):
        raise BadParameter(name, "control characters are not allowed")
    return value


def _choice(params: Mapping[str, str], name: str, choices: Sequence[str]) -> str | None:
    value = _text(params, name)
    if value is not None and value not in choices:
        raise BadParameter(name, f"one of {', '.join(choices)}")
    return value


def _int(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = _text(params, name, 12)
    if value is None:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadParameter(name, f"a whole number from {low} to {high}")
    return int(value)


def parse_hosts_query(params: Mapping[str, str], severities: Sequence[str]) -> HostsQuery:
    """``params``: the query string (single values); ``severities``: every ``severity``."""
    for value in severities:
        if value and value not in SEVERITIES:
            raise BadParameter("severity", f"one of {', '.join(SEVERITIES)}")
    check = _text(params, "check", 128)
    check_status = _choice(params, "check_status", STATUSES) or "fail"
    wanted = HostFilter(
        site=_text(params, "site"),
        kind=_choice(params, "kind", SITE_KINDS),
        os=_choice(params, "os", OS_FAMILIES),
        os_version=_text(params, "os_version"),
        chassis=_choice(params, "chassis", CHASSIS),
        role=_choice(params, "role", ROLES),
        check=check,
        check_status=check_status,
        severity=tuple(sorted({s for s in severities if s}, key=SEVERITIES.index)),
        silent_days=_int(params, "silent", 0, MAX_DAYS),
        pending_days=_int(params, "pending", 0, MAX_DAYS),
        support_ended=_choice(params, "support", ("ended",)) == "ended",
        insecure_wlan=_choice(params, "wlan", ("insecure",)) == "insecure",
        text=_text(params, "q", MAX_TEXT),
    )
    sort = _choice(params, "sort", tuple(SORTS)) or "hostname"
    direction = _choice(params, "dir", ("asc", "desc")) or "asc"
    per_page = _int(params, "per_page", 1, max(PAGE_SIZES)) or DEFAULT_PAGE_SIZE
    if per_page not in PAGE_SIZES:
        raise BadParameter("per_page", f"one of {', '.join(map(str, PAGE_SIZES))}")
    page = _int(params, "page", 1, 10**6) or 1
    return HostsQuery(wanted, sort, direction == "desc", page, per_page)


def filter_params(f: HostFilter) -> list[tuple[str, str]]:
    """The query parameters that give ``f`` back (in a stable order)."""
    out: list[tuple[str, str]] = []
    for name, value in (
        ("site", f.site), ("kind", f.kind), ("os", f.os), ("os_version", f.os_version),
        ("chassis", f.chassis), ("role", f.role), ("check", f.check),
    ):  # fmt: skip
        if value is not None:
            out.append((name, value))
    if f.check is not None and f.check_status != "fail":
        out.append(("check_status", f.check_status))
    out += [("severity", s) for s in f.severity]
    if f.silent_days is not None:
        out.append(("silent", str(f.silent_days)))
    if f.pending_days is not None:
        out.append(("pending", str(f.pending_days)))
    if f.support_ended:
        out.append(("support", "ended"))
    if f.insecure_wlan:
        out.append(("wlan", "insecure"))
    if f.text:
        out.append(("q", f.text))
    return out


def hosts_url(f: HostFilter, path: str = "/hosts", **extra: str | int) -> str:
    params = filter_params(f) + [(k, str(v)) for k, v in extra.items()]
    return f"{path}?{urlencode(params)}" if params else path


def query_url(query: HostsQuery, path: str = "/hosts", **changes: str | int) -> str:
    """The list's URL with its sorting and paging, some of it changed (``page=2``)."""
    extra: dict[str, str | int] = {}
    if query.sort != "hostname":
        extra["sort"] = query.sort
    if query.descending:
        extra["dir"] = "desc"
    if query.per_page != DEFAULT_PAGE_SIZE:
        extra["per_page"] = query.per_page
    if query.page != 1:
        extra["page"] = query.page
    extra.update(changes)
    extra = {k: v for k, v in extra.items() if not (k == "page" and v == 1)}
    return hosts_url(query.filter, path, **extra)
