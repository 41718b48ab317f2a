"""The fleet page's grouping and the metric ``inventar_vulnerable_hosts`` are read from
per-host aggregates (vuln_host_packages, vuln_host_levels) written by the match and after
imports: on a small crafted fleet they equal a brute-force computation over every host's
(host, package version, CVE) rows, and the values worked out by hand below."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa

from collector.models import Host, Site, SoftwareRow, VulnKev, table_of, utcnow
from collector.queries.vulns import _CACHE, fleet_vulns, vulnerable_host_counts
from collector.services import add_site
from collector.vuln_rows import host_vuln_rows
from collector.vuln_rows import refresh_levels as real_refresh
from collector.vulns import matching
from collector.vulns.feeds import Parsed
from collector.vulns.importer import store
from collector.vulns.matching import rematch
from collector.vulns.severity import rank
from tests.collector.conftest import Env


def _advisory(package: str, cve: str, fixed: str | None, severity: str | None) -> dict[str, Any]:
    return {"feed": "debian", "release": "bookworm", "package": package, "cve": cve,
            "status": "resolved" if fixed else "open", "fixed_version": fixed, "pro": False,
            "severity": severity}  # fmt: skip


TRACKER = [
    _advisory("a", "CVE-2026-0001", "1.0-2", "high"),
    _advisory("a", "CVE-2026-0002", "1.0-2", "low"),
    _advisory("a", "CVE-2026-0003", None, None),  # open: no fix yet, unrated
    _advisory("b", "CVE-2026-0004", "2.0-3", "medium"),
]


def _kev(*cves: str) -> Parsed:
    return Parsed("kev", None, [{"cve": c, "vendor": None, "product": None, "name": None,
                                 "date_added": None, "due_date": None, "ransomware": None}
                                for c in cves])  # fmt: skip


def _fleet(env: Env) -> dict[str, int]:
    """north: h1 (a 1.0-1, b 2.0-1), h2 (a 1.0-2, b 2.0-3); south: h3 (a in two versions,
    1.0-1 and 1.0-0: two binary packages of one source), h4 (b 2.0-2), h5 (trixie: no
    advisories for it)."""
    with env.db.session() as s:
        north, south = add_site(s, "North", "school"), add_site(s, "South", "school")
        sites = {"north": (north.id, north.org_id), "south": (south.id, south.org_id)}
    fleet = {
        "h1": ("north", "bookworm", [("a", "1.0-1"), ("b", "2.0-1")]),
        "h2": ("north", "bookworm", [("a", "1.0-2"), ("b", "2.0-3")]),
        "h3": ("south", "bookworm", [("a", "1.0-1"), ("a", "1.0-0")]),
        "h4": ("south", "bookworm", [("b", "2.0-2")]),
        "h5": ("south", "trixie", [("a", "1.0-1")]),
    }
    ids: dict[str, int] = {}
    h, sw = table_of(Host), table_of(SoftwareRow)
    with env.db.engine.begin() as conn:
        for name, (site, codename, packages) in fleet.items():
            site_id, org_id = sites[site]
            now = utcnow()
            ids[name] = conn.execute(
                sa.insert(h).values(org_id=org_id, site_id=site_id, machine_id=name,
                                    os_family="linux", os_codename=codename, first_seen=now,
                                    last_seen=now, section_hashes={}, stable_hashes={})
                .returning(h.c.id)
            ).scalar_one()  # fmt: skip
            conn.execute(sa.insert(sw), [
                {"host_id": ids[name], "name": f"{source}-bin{n}", "version": version,
                 "source": source, "source_version": version}
                for n, (source, version) in enumerate(packages)
            ])  # fmt: skip
    return ids


def _brute_force(env: Env, site: str | None = None, kev: bool | None = None) -> Any:
    """Every (host, package version, CVE) row, joined per host as the host page reads them."""
    hv, kevs = host_vuln_rows(), table_of(VulnKev)
    h, s = table_of(Host), table_of(Site)
    with env.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(hv, s.c.name.label("site"), kevs.c.cve.label("kev_cve"))
            .join(h, h.c.id == hv.c.host_id).join(s, s.c.id == h.c.site_id)
            .outerjoin(kevs, kevs.c.cve == hv.c.cve)
        ).all()  # fmt: skip
    groups: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {"hosts": set(), "cves": set(), "kev": set(), "severity": None}
    )
    metric: dict[tuple[str, str, bool], set[int]] = defaultdict(set)
    vulnerable = set()
    for r in rows:
        metric[(r.site, r.severity or "unknown", r.kev_cve is not None)].add(r.host_id)
        if (site and r.site != site) or (kev is not None and (r.kev_cve is not None) != kev):
            continue
        g = groups[(r.package, r.fixed, r.status)]
        g["hosts"].add(r.host_id)
        g["cves"].add(r.cve)
        if r.kev_cve:
            g["kev"].add(r.cve)
        if rank(r.severity) < rank(g["severity"]):
            g["severity"] = r.severity
        vulnerable.add(r.host_id)
    fleet = {
        key: (len(g["hosts"]), sorted(g["cves"]), sorted(g["kev"]), g["severity"])
        for key, g in groups.items()
    }
    return fleet, len(vulnerable), sorted((*k, len(v)) for k, v in metric.items())


def _read(env: Env, **filters: Any) -> tuple[dict[tuple[Any, ...], Any], int]:
    _CACHE.clear()
    with env.db.engine.connect() as conn:
        body = fleet_vulns(conn, None, limit=100, **filters)
    groups = {
        (i.package, i.fixed, i.status): (i.hosts, i.cves, i.kev, i.severity) for i in body.items
    }
    return groups, body.vulnerable_hosts


def _metric(env: Env) -> list[tuple[str, str, bool, int]]:
    _CACHE.clear()
    with env.db.engine.connect() as conn:
        return sorted(c for c in vulnerable_host_counts(conn) if c[0] in ("North", "South"))


# 2000: one chunk; 2: three chunks, later ones reusing verdicts judged in earlier ones, and
# the fleet index dropped and rebuilt around them (what a new feed does to a large fleet).
@pytest.mark.parametrize("chunk", [matching.CHUNK, 2])
def test_fleet_grouping_and_metric_equal_brute_force_and_hand_worked_values(
    env: Env, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching, "CHUNK", chunk)
    store(env.db, Parsed("debian", None, TRACKER), "crafted", "0" * 64)
    store(env.db, _kev("CVE-2026-0002"), "crafted", "1" * 64)
    _fleet(env)
    rematch(env.db)
    fix_a = ("a", "1.0-2", "fix")
    open_a = ("a", None, "no-fix")
    fix_b = ("b", "2.0-3", "fix")
    a12 = ["CVE-2026-0001", "CVE-2026-0002"]
    # h3 has two versions of a, both vulnerable: it counts once per group.
    expected = {
        fix_a: (2, a12, ["CVE-2026-0002"], "high"),  # h1, h3
        open_a: (3, ["CVE-2026-0003"], [], None),  # h1, h2, h3
        fix_b: (2, ["CVE-2026-0004"], [], "medium"),  # h1, h4
    }
    assert _read(env) == (expected, 4)
    fleet, vulnerable, metric = _brute_force(env)
    assert (fleet, vulnerable) == (expected, 4)
    south = {fix_a: (1, *expected[fix_a][1:]), open_a: (1, *expected[open_a][1:]),
             fix_b: (1, *expected[fix_b][1:])}  # fmt: skip
    assert _read(env, site="South") == (south, 2) == _brute_force(env, site="South")[:2]
    kev_only = {fix_a: (2, ["CVE-2026-0002"], ["CVE-2026-0002"], "low")}
    assert _read(env, kev=True) == (kev_only, 2) == _brute_force(env, kev=True)[:2]
    no_kev = {**expected, fix_a: (2, ["CVE-2026-0001"], [], "high")}
    assert _read(env, kev=False) == (no_kev, 4) == _brute_force(env, kev=False)[:2]
    assert _read(env, package="b") == ({fix_b: expected[fix_b]}, 2)
    # The metric: hosts per site with at least one vulnerability of that severity and KEV.
    by_hand = [
        ("North", "high", False, 1),  # h1
        ("North", "low", True, 1),  # h1
        ("North", "medium", False, 1),  # h1
        ("North", "unknown", False, 2),  # h1, h2 (the open CVE)
        ("South", "high", False, 1),  # h3
        ("South", "low", True, 1),  # h3
        ("South", "medium", False, 1),  # h4
        ("South", "unknown", False, 1),  # h3
    ]
    assert _metric(env) == by_hand == metric
    # A new KEV catalogue changes the metric without a re-match (refreshed by the import).
    store(env.db, _kev("CVE-2026-0002", "CVE-2026-0004"), "crafted", "2" * 64)
    assert rematch(env.db).hosts_matched == 0
    with_b = [c for c in by_hand if c[1] != "medium"]
    with_b += [("North", "medium", True, 1), ("South", "medium", True, 1)]
    assert _metric(env) == sorted(with_b) == _brute_force(env)[2]
    assert _read(env, kev=True)[1] == 3 == _brute_force(env, kev=True)[1]  # h1, h3, h4
    # A new package feed drops every verdict until the hosts are matched again.
    store(env.db, Parsed("debian", None, TRACKER[:1]), "crafted", "3" * 64)
    assert _read(env) == ({}, 0) and _metric(env) == []
    rematch(env.db)
    assert _read(env) == ({fix_a: (2, ["CVE-2026-0001"], [], "high")}, 2)
    assert _metric(env) == [("North", "high", False, 1), ("South", "high", False, 1)]


def test_a_match_that_fails_midway_is_finished_by_the_next(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second chunk fails after writing some of its rows (rolled back), the match's
    connection with its temporary tables is dropped, and the next match takes the hosts not
    matched yet: the same figures as brute force, the fleet index back."""
    store(env.db, Parsed("debian", None, TRACKER), "crafted", "0" * 64)
    _fleet(env)
    monkeypatch.setattr(matching, "CHUNK", 2)
    calls: list[int] = []

    def refresh_or_fail(conn: sa.Connection, host_ids: list[int]) -> None:
        calls.append(len(host_ids))
        if len(calls) == 2:
            raise RuntimeError("the collector stops")
        real_refresh(conn, host_ids)

    monkeypatch.setattr(matching, "refresh_levels", refresh_or_fail)
    with pytest.raises(RuntimeError):
        rematch(env.db)
    monkeypatch.setattr(matching, "refresh_levels", real_refresh)
    assert rematch(env.db).hosts_matched == 4  # the first chunk's one host stays matched
    fleet, vulnerable, metric = _brute_force(env)
    assert vulnerable == 4 and _read(env) == (fleet, vulnerable) and _metric(env) == metric
    indexes = sa.inspect(env.db.engine).get_indexes("vuln_host_packages")
    assert "ix_vuln_host_packages_key" in {ix["name"] for ix in indexes}
