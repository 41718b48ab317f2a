"""Grundschutz coverage: per site and BSI requirement (a reference the checks cite, e.g.
``BSI SYS.2.1.A3``), how many hosts meet it, fail it, are unknown or waived.

A host's verdict for a requirement comes from the current findings of every check that cites
it: **fail** if one of them fails, else **waived** if one is waived, else **unknown** if one is
unknown, else **pass** if one passes (checks that do not apply to the host leave it out).
The drill-down lists the hosts of one site and requirement with each check's status and the
waivers with their last day; the CSV export carries the date and the packs' digest, so that
an auditor can tell which rules the evidence rests on.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session

from collector.models import Finding, Host, Site, table_of
from collector.policy import PolicySet

VERDICTS = ("pass", "fail", "unknown", "waived")
# Worst first: the status that decides a host's verdict.
_RANK = {"fail": 0, "waived": 1, "unknown": 2, "pass": 3}
PREFIX = "BSI "

_F = table_of(Finding)
_H = table_of(Host)
_S = table_of(Site)


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    checks: tuple[str, ...]


def requirements(packs: PolicySet, prefix: str = PREFIX) -> list[Requirement]:
    """Every reference with ``prefix`` that a host check cites, with the citing checks."""
    by_ref: dict[str, list[str]] = {}
    for check in packs.checks:
        for ref in check.references:
            if ref.startswith(prefix):
                by_ref.setdefault(ref, []).append(check.id)
    titles = packs.reference.references
    return [
        Requirement(ref, titles.get(ref, ""), tuple(sorted(checks)))
        for ref, checks in sorted(by_ref.items())
    ]


@dataclass
class Coverage:
    """Counts per (site id, requirement) and the sites that have hosts."""

    sites: list[tuple[int, str, str]]  # id, name, kind
    requirements: list[Requirement]
    counts: dict[tuple[int, str], Counter[str]] = field(default_factory=dict)

    def cell(self, site_id: int, ref: str) -> Counter[str]:
        return self.counts.get((site_id, ref), Counter())


def _findings(
    session: Session, org_id: int | None, checks: Iterable[str], site_id: int | None = None
) -> Iterable[tuple[int, int, str, str]]:
    query = (
        sa.select(_H.c.id, _H.c.site_id, _F.c.check_id, _F.c.status)
        .join(_F, _F.c.host_id == _H.c.id)
        .where(_F.c.resolved_at.is_(None), _F.c.check_id.in_(list(checks)))
    )
    if org_id is not None:
        query = query.where(_H.c.org_id == org_id)
    if site_id is not None:
        query = query.where(_H.c.site_id == site_id)
    yield from session.connection().execute(query)


def _verdicts(
    rows: Iterable[tuple[int, int, str, str]], reqs: list[Requirement]
) -> dict[tuple[int, str], dict[int, str]]:
    """(site id, requirement) -> host id -> verdict."""
    citing: dict[str, list[str]] = {}
    for req in reqs:
        for check in req.checks:
            citing.setdefault(check, []).append(req.id)
    out: dict[tuple[int, str], dict[int, str]] = {}
    for host_id, site_id, check, status in rows:
        if status not in _RANK:  # not-applicable
            continue
        for ref in citing.get(check, ()):
            hosts = out.setdefault((site_id, ref), {})
            old = hosts.get(host_id)
            if old is None or _RANK[status] < _RANK[old]:
                hosts[host_id] = status
    return out


def coverage(session: Session, org_id: int | None, packs: PolicySet) -> Coverage:
    reqs = requirements(packs)
    checks = {c for r in reqs for c in r.checks}
    verdicts = _verdicts(_findings(session, org_id, checks), reqs)
    query = sa.select(_S.c.id, _S.c.name, _S.c.kind).order_by(_S.c.name)
    if org_id is not None:
        query = query.where(_S.c.org_id == org_id)
    sites = [(int(i), n, k) for i, n, k in session.connection().execute(query)]
    result = Coverage(sites, reqs)
    for key, hosts in verdicts.items():
        result.counts[key] = Counter(hosts.values())
    return result


@dataclass(frozen=True)
class HostVerdict:
    host_id: int
    hostname: str | None
    verdict: str
    # check id -> (status, waiver reason, waiver's last day)
    checks: dict[str, tuple[str, str | None, dt.date | None]]


def drill_down(
    session: Session, org_id: int | None, site_id: int, req: Requirement
) -> list[HostVerdict]:
    """The hosts of one site with a verdict for ``req``, worst first, with each citing
    check's status and waiver."""
    query = (
        sa.select(_H.c.id, _H.c.hostname, _F.c.check_id, _F.c.status, _F.c.waiver_reason,
                  _F.c.waiver_until)
        .join(_F, _F.c.host_id == _H.c.id)
        .where(_F.c.resolved_at.is_(None), _F.c.check_id.in_(req.checks),
               _H.c.site_id == site_id)
    )  # fmt: skip
    if org_id is not None:
        query = query.where(_H.c.org_id == org_id)
    hosts: dict[int, tuple[str | None, dict[str, tuple[str, str | None, dt.date | None]]]] = {}
    for host_id, hostname, check, status, reason, until in session.connection().execute(query):
        hosts.setdefault(host_id, (hostname, {}))[1][check] = (status, reason, until)
    out = []
    for host_id, (hostname, checks) in hosts.items():
        ranked = [s for s, _r, _u in checks.values() if s in _RANK]
        if not ranked:
            continue
        verdict = min(ranked, key=lambda s: _RANK[s])
        out.append(HostVerdict(host_id, hostname, verdict, checks))
    out.sort(key=lambda h: (_RANK[h.verdict], h.hostname or ""))
    return out


CSV_COLUMNS = ("generated_at", "pack_digest", "site", "site_kind", "requirement", "title",
               "checks", *VERDICTS)  # fmt: skip


def csv_rows(result: Coverage, digest: str, now: dt.datetime) -> Iterable[list[object]]:
    stamp = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    for site_id, name, kind in result.sites:
        for req in result.requirements:
            counts = result.cell(site_id, req.id)
            if not counts:
                continue
            yield [stamp, digest, name, kind, req.id, req.title, " ".join(req.checks),
                   *(counts.get(v, 0) for v in VERDICTS)]  # fmt: skip
