"""Matching hosts against the imported feeds, the way the vendors match:

- Debian/Ubuntu: by the release's codename and the *source* package, against the tracker's
  fixed version in dpkg's order. A backported fix (bookworm's 5.8.0-1+deb12u1) is judged by
  the version Debian fixed it in, never by the upstream version, so a patched package is not
  reported. ``open`` is "no fix yet"; not-affected entries were never imported.
- Ubuntu Pro (ESM) ranges count only on a host whose agent reports Pro enabled; elsewhere a
  fix that only ESM has is reported as ``pro`` (fix available through Ubuntu Pro).
- Windows: by MSRC's product and the fixing updates, following supersedence; a host whose
  product or installed updates are unknown gets nothing (unknown, never vulnerable).

Results are stored once per host and package version (``host_vulns``). A host is matched
again only when its inputs (release, Pro, packages; on Windows its OS and updates) or the
package feeds changed (``vuln_host_state`` keeps the digest); KEV and EPSS are joined when
read, so importing them re-matches nothing. Verdicts are computed once per distinct release,
package and version per run: a fleet of similar machines costs little more than one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from collector import current_state
from collector.db import Database
from collector.models import (
    Host,
    HostVuln,
    SoftwareRow,
    VulnFeed,
    VulnHostState,
    VulnPackageAdvisory,
    VulnPackageResult,
    VulnSupersedence,
    VulnWindowsFix,
    table_of,
    utcnow,
)
from collector.vuln_rows import HOST_PACKAGES_KEY, refresh_host_packages, refresh_levels
from collector.vuln_rows import PRO as _PRO
from collector.vulns.versions import dpkg_less
from collector.vulns.windows import covered, product

_H = table_of(Host)
_SW = table_of(SoftwareRow)
_HV = table_of(HostVuln)
_STATE = table_of(VulnHostState)
_FEEDS = table_of(VulnFeed)
_ADV = table_of(VulnPackageAdvisory)
_FIX = table_of(VulnWindowsFix)
_SUP = table_of(VulnSupersedence)
_RES = table_of(VulnPackageResult)
CHUNK = 2000
# The feeds whose rows decide the stored results (KEV and EPSS are joined when read).
MATCHED_FEEDS = ("debian", "ubuntu", "msrc")
# The match's own temporary tables, on its connection only (_scratch).
_SCRATCH = sa.MetaData()
# Keys with the package first: a lookup's comparisons are decided by the first column then
# (the release is the same for most of a fleet), a third cheaper than release first.
_ADVISED = sa.Table(
    "vuln_match_advised", _SCRATCH,
    sa.Column("package", sa.String(256), primary_key=True),
    sa.Column("release", sa.String(64), primary_key=True),
    prefixes=["TEMPORARY"], sqlite_with_rowid=False,
)  # fmt: skip
# One chunk's hosts' advised package versions (a binary package's row each: may repeat) that
# have verdicts or are not judged yet in this match (``verdicts`` NULL).
_ROWS = sa.Table(
    "vuln_match_rows", _SCRATCH,
    sa.Column("host_id", sa.Integer, nullable=False),
    sa.Column("release", sa.String(64), nullable=False),
    sa.Column("pro", sa.Boolean, nullable=False),
    sa.Column("package", sa.String(256), nullable=False),
    sa.Column("version", sa.String(256), nullable=False),
    sa.Column("verdicts", sa.Boolean),
    prefixes=["TEMPORARY"],
)  # fmt: skip
# The package versions judged in this match, and whether they have verdicts (CVEs).
_JUDGED = sa.Table(
    "vuln_match_judged", _SCRATCH,
    sa.Column("package", sa.String(256), primary_key=True),
    sa.Column("version", sa.String(256), primary_key=True),
    sa.Column("release", sa.String(64), primary_key=True),
    sa.Column("pro", sa.Boolean, primary_key=True),
    sa.Column("verdicts", sa.Boolean, nullable=False),
    prefixes=["TEMPORARY"], sqlite_with_rowid=False,
)  # fmt: skip
_KEY = ("release", "pro", "package", "version")

# (cve, status, fixed, severity)
Result = tuple[str, str, str | None, str | None]


@dataclass
class MatchStats:
    hosts_considered: int = 0
    hosts_matched: int = 0
    rows: int = 0
    package_versions: int = 0
    matched_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Advisory:
    cve: str
    status: str
    fixed: str | None
    pro: bool
    severity: str | None


def _verdict(advisory: _Advisory, version: str) -> str | None:
    if advisory.status == "open":
        return "no-fix"
    if advisory.fixed is None:
        return None
    less = dpkg_less(version, advisory.fixed)
    return "fix" if less else None  # None: fixed, or a version dpkg would not parse


def package_results(advisories: Sequence[_Advisory], version: str, pro: bool) -> list[Result]:
    """The CVEs of one source package version in one release, for a host with or without
    Ubuntu Pro."""
    standard = {a.cve: a for a in advisories if not a.pro}
    esm = {a.cve: a for a in advisories if a.pro}
    out: list[Result] = []
    for cve in sorted(standard.keys() | esm.keys()):
        std, ext = standard.get(cve), esm.get(cve)
        if pro and ext is not None:
            verdict = _verdict(ext, version)
            if verdict:
                severity = ext.severity or (std.severity if std else None)
                out.append((cve, verdict, ext.fixed, severity))
            continue
        std_verdict = _verdict(std, version) if std else None
        esm_fixes = ext is not None and _verdict(ext, version) == "fix"
        if ext is not None and esm_fixes and (std is None or std_verdict == "no-fix"):
            # Only ESM has the fix, and this host has no Pro: say where the fix is.
            out.append((cve, "pro", ext.fixed, ext.severity))
        elif std is not None and std_verdict:
            out.append((cve, std_verdict, std.fixed, std.severity))
    return out


class _Feeds:
    """The package advisories of the releases asked for, and the Windows data, loaded once."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.advisories: dict[tuple[str, str], list[_Advisory]] = {}
        self._releases: set[str] = set()
        self._products: dict[str, dict[str, tuple[set[str], str | None, str]]] = {}
        self._supersedes: dict[str, list[str]] | None = None
        self.cache: dict[tuple[str, str, str, bool], list[Result]] = {}

    def load_releases(self, releases: Iterable[str]) -> None:
        wanted = set(releases) - self._releases
        if not wanted:
            return
        self._releases |= wanted
        rows = self.conn.execute(
            sa.select(
                _ADV.c.release,
                _ADV.c.package,
                _ADV.c.cve,
                _ADV.c.status,
                _ADV.c.fixed_version,
                _ADV.c.pro,
                _ADV.c.severity,
            ).where(_ADV.c.release.in_(sorted(wanted)))
        )
        for r in rows:
            self.advisories.setdefault((r.release, r.package), []).append(
                _Advisory(r.cve, r.status, r.fixed_version, bool(r.pro), r.severity)
            )

    def results(self, release: str, package: str, version: str, pro: bool) -> list[Result]:
        advisories = self.advisories.get((release, package))
        if not advisories:
            return []
        key = (release, package, version, pro)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = package_results(advisories, version, pro)
        return found

    def supersedes(self) -> dict[str, list[str]]:
        if self._supersedes is None:
            graph: dict[str, list[str]] = defaultdict(list)
            for kb, old in self.conn.execute(sa.select(_SUP.c.kb, _SUP.c.superseded)):
                graph[kb].append(old)
            self._supersedes = dict(graph)
        return self._supersedes

    def fixes(self, name: str) -> dict[str, tuple[set[str], str | None, str]]:
        """cve -> (the KBs fixing it, severity, the newest fixing KB) for one product."""
        if name not in self._products:
            per_cve: dict[str, tuple[set[str], str | None, str]] = {}
            newest: dict[str, tuple[dt.date, str]] = {}
            for r in self.conn.execute(
                sa.select(_FIX.c.cve, _FIX.c.kb, _FIX.c.severity, _FIX.c.posted).where(
                    _FIX.c.product == name
                )
            ):
                kbs, severity, _ = per_cve.get(r.cve, (set(), None, r.kb))
                kbs.add(r.kb)
                stamp = (r.posted or dt.date.min, r.kb)
                if r.cve not in newest or stamp > newest[r.cve]:
                    newest[r.cve] = stamp
                per_cve[r.cve] = (kbs, severity or r.severity, newest[r.cve][1])
            self._products[name] = per_cve
        return self._products[name]


def matched_host_ids(db: Database) -> list[int]:
    """Hosts matched at least once: whose KEV findings change when a KEV catalogue comes."""
    with db.engine.connect() as conn:
        return list(conn.execute(sa.select(_STATE.c.host_id).order_by(_STATE.c.host_id)).scalars())


def feeds_digest(conn: sa.Connection) -> str:
    rows = conn.execute(
        sa.select(_FEEDS.c.feed, _FEEDS.c.sha256)
        .where(_FEEDS.c.feed.in_(MATCHED_FEEDS))
        .order_by(_FEEDS.c.feed)
    ).all()
    return hashlib.sha256(json.dumps([list(r) for r in rows]).encode()).hexdigest()


def _host_digest(feeds: str, row: Any) -> str:
    hashes = row.section_hashes or {}
    parts: list[Any] = [
        feeds,
        row.os_family,
        row.os_codename,
        row.ubuntu_pro,
        hashes.get("software"),
    ]
    if row.os_family == "windows":
        # The build and the installed updates; pending lists change daily but matter not.
        parts += [row.os_name, row.os_build, row.arch, hashes.get("os"), hashes.get("patches")]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def rematch(
    db: Database, host_ids: Iterable[int] | None = None, *, force: bool = False
) -> MatchStats:
    """Match the hosts (all, or ``host_ids``) whose inputs or feeds changed since their last
    match (all of them with ``force``); returns what was done."""
    stats = MatchStats()
    with db.engine.connect() as conn:
        digest = feeds_digest(conn)
        query = sa.select(
            _H.c.id,
            _H.c.os_family,
            _H.c.os_codename,
            _H.c.ubuntu_pro,
            _H.c.os_name,
            _H.c.os_build,
            _H.c.arch,
            _H.c.section_hashes,
            _STATE.c.digest,
        ).outerjoin(_STATE, _STATE.c.host_id == _H.c.id)
        if host_ids is not None:
            query = query.where(_H.c.id.in_(sorted(set(host_ids))))
        hosts = conn.execute(query.order_by(_H.c.id)).all()
    stats.hosts_considered = len(hosts)
    todo = []
    for row in hosts:
        wanted = _host_digest(digest, row)
        if force or row.digest != wanted:
            todo.append((row, wanted))
    with db.engine.connect() as conn:
        feeds = _Feeds(conn)
        feeds.load_releases({row.os_codename for row, _ in todo if row.os_codename})
    # Many hosts (a new package feed): the index by package version is built once at the end
    # rather than kept up to date row by row (inserting 3 million rows into it at 6,000
    # places was most of the time of a full re-match).
    many = len(todo) > CHUNK
    if many:
        _key_index(db, present=False)
    try:
        if todo:
            _match(db, feeds, todo, stats)
    finally:
        # Also after a match that was interrupted before (a killed process): then it is missing.
        _key_index(db, present=True)
    stats.package_versions = len(feeds.cache)
    return stats


def _match(db: Database, feeds: _Feeds, todo: list[tuple[Any, str]], stats: MatchStats) -> None:
    """Match these hosts, a chunk per transaction, on one connection (its temporary tables
    live as long as the match)."""
    with db.engine.connect() as conn, _scratch(db, conn, todo):
        feeds.conn = conn
        for chunk in _chunks(todo):
            _match_chunk(db, conn, feeds, chunk, stats)


def _chunks(todo: list[tuple[Any, str]]) -> Iterator[list[tuple[Any, str]]]:
    """CHUNK hosts at a time, the first chunk a tenth of that: every version in it is new to
    the match, so all its rows are read again once judged; similar machines share most
    versions, and the following chunks find them judged."""
    first = max(1, CHUNK // 10)
    yield todo[:first]
    for start in range(first, len(todo), CHUNK):
        yield todo[start : start + CHUNK]


def _key_index(db: Database, *, present: bool) -> None:
    """Drop or (re)create the index of ``vuln_host_packages`` by package version."""
    with db.write_session() as session:
        conn = session.connection()
        if present:
            HOST_PACKAGES_KEY.create(conn, checkfirst=True)
        else:
            HOST_PACKAGES_KEY.drop(conn, checkfirst=True)
        session.commit()


@contextmanager
def _scratch(db: Database, conn: sa.Connection, todo: list[tuple[Any, str]]) -> Iterator[None]:
    """The match's temporary tables on its connection, for as long as it runs: the advised
    source packages of the releases matched, and the package versions judged so far."""
    with db.write_lock():
        # Left over on this pooled connection by a match that failed to drop them: not reused.
        _SCRATCH.drop_all(conn)
        _SCRATCH.create_all(conn)
        releases = sorted({row.os_codename for row, _ in todo if row.os_codename})
        advised = sa.select(_ADV.c.release, _ADV.c.package).distinct()
        conn.execute(
            sa.insert(_ADVISED).from_select(
                ["release", "package"], advised.where(_ADV.c.release.in_(releases))
            )
        )
        conn.commit()
    try:
        yield
    except BaseException:
        # The transaction may be broken (PostgreSQL): the connection is discarded, its
        # temporary tables with it.
        conn.invalidate()
        raise
    with db.write_lock():
        _SCRATCH.drop_all(conn)
        conn.commit()


def _same_key(judged: Any, release: Any, pro: Any, package: Any, version: Any) -> Any:
    return sa.and_(judged.release == release, judged.pro == pro, judged.package == package,
                   judged.version == version)  # fmt: skip


def _read_rows(conn: sa.Connection, host_ids: list[int]) -> None:
    """The hosts' source package versions that have advisories in their release, unless
    judged without verdicts already, into ``vuln_match_rows``: the one read of their
    ``software`` rows in a match."""
    conn.execute(sa.delete(_ROWS))
    if not host_ids:
        return
    sw, adv, judged = _SW.c, _ADVISED.c, _JUDGED.c
    rows = (
        sa.select(sw.host_id, _H.c.os_codename, _PRO, sw.source, sw.source_version,
                  judged.verdicts)
        .select_from(_SW)
        .join(_H, _H.c.id == sw.host_id)
        .join(_ADVISED, sa.and_(adv.release == _H.c.os_codename, adv.package == sw.source))
        .outerjoin(_JUDGED, _same_key(judged, _H.c.os_codename, _PRO, sw.source,
                                      sw.source_version))
        .where(sw.host_id.in_(host_ids), sw.source_version.is_not(None),
               # a version known to have no verdicts needs nothing more
               sa.or_(judged.verdicts.is_(None), judged.verdicts))
    )  # fmt: skip
    conn.execute(sa.insert(_ROWS).from_select(["host_id", *_KEY, "verdicts"], rows))


def _judge_new(conn: sa.Connection, feeds: _Feeds) -> None:
    """Judge the package versions of ``vuln_match_rows`` that this match has not judged yet:
    their verdicts stored (unless stored before), ``vuln_match_judged`` and the rows told."""
    r = _ROWS.c
    keys = conn.execute(
        sa.select(r.release, r.pro, r.package, r.version).distinct().where(r.verdicts.is_(None))
    ).all()
    if not keys:
        return
    with_verdicts = _store_package_results(conn, feeds, keys)
    conn.execute(
        sa.insert(_JUDGED),
        [dict(zip(_KEY, (rel, bool(pro), pkg, ver), strict=True))
         | {"verdicts": (rel, bool(pro), pkg, ver) in with_verdicts}
         for rel, pro, pkg, ver in keys],
    )  # fmt: skip
    j = _JUDGED.c
    found = sa.select(j.verdicts).where(_same_key(j, r.release, r.pro, r.package, r.version))
    conn.execute(
        sa.update(_ROWS).where(r.verdicts.is_(None)).values(verdicts=found.scalar_subquery())
    )


def _store_package_results(
    conn: sa.Connection, feeds: _Feeds, keys: Sequence[Any]
) -> set[tuple[str, bool, str, str]]:
    """Verdicts of the package versions not stored yet (stored ones stay valid until a
    package feed is imported again, which deletes them all: collector.vulns.importer).
    Returns the keys that have verdicts."""
    packages = sorted({k[2] for k in keys})
    stored: set[tuple[str, bool, str, str]] = set()
    for start in range(0, len(packages), 500):
        found = conn.execute(
            sa.select(_RES.c.release, _RES.c.pro, _RES.c.package, _RES.c.version)
            .distinct()
            .where(_RES.c.package.in_(packages[start : start + 500]))
        )
        stored.update((r, bool(p), pkg, v) for r, p, pkg, v in found)
    with_verdicts = set()
    rows = []
    for release, pro, package, version in keys:
        key = (release, bool(pro), package, version)
        if key in stored:
            with_verdicts.add(key)
            continue
        for cve, status, fixed, severity in feeds.results(release, package, version, bool(pro)):
            with_verdicts.add(key)
            rows.append({"release": release, "pro": bool(pro), "package": package,
                         "version": version, "cve": cve, "status": status, "fixed": fixed,
                         "severity": severity})  # fmt: skip
    for start in range(0, len(rows), 20_000):
        conn.execute(sa.insert(_RES), rows[start : start + 20_000])
    return with_verdicts


def _match_chunk(
    db: Database,
    conn: sa.Connection,
    feeds: _Feeds,
    chunk: list[tuple[Any, str]],
    stats: MatchStats,
) -> None:
    ids = [row.id for row, _ in chunk]
    deb = sorted(row.id for row, _ in chunk if row.os_codename)
    rows: list[dict[str, Any]] = []
    with db.write_lock():
        # A write first: SQLite's write lock is taken (or waited for) before anything is read,
        # not on a read snapshot that another process's write would make stale.
        conn.execute(sa.delete(_HV).where(_HV.c.host_id.in_(ids)))
        _read_rows(conn, deb)
        _judge_new(conn, feeds)
        windows = [row for row, _ in chunk if row.os_family == "windows"]
        patches = current_state.stored_sections(conn, [r.id for r in windows], ["patches"])
        for row in windows:
            rows.extend(_windows_rows(feeds, row, patches.get(row.id, {}).get("patches")))
        if rows:
            conn.execute(sa.insert(_HV), rows)
        refresh_host_packages(conn, ids, _ROWS)
        refresh_levels(conn, ids)
        conn.execute(sa.delete(_STATE).where(_STATE.c.host_id.in_(ids)))
        now = utcnow()
        conn.execute(
            sa.insert(_STATE),
            [{"host_id": row.id, "digest": d, "matched_at": now} for row, d in chunk],
        )
        stats.rows += len(rows)
        conn.commit()
    stats.hosts_matched += len(chunk)
    stats.matched_ids.extend(ids)


def _windows_rows(feeds: _Feeds, row: Any, patches_json: str | None) -> list[dict[str, Any]]:
    name = product(row.os_name, row.os_build, row.arch)
    if name is None or not patches_json:
        return []
    installed = (json.loads(patches_json) or {}).get("installed_kbs")
    if not isinstance(installed, list):
        return []  # the installed updates are unknown: unknown, never vulnerable
    have = covered([str(k) for k in installed], feeds.supersedes())
    out = []
    for cve, (kbs, severity, newest) in sorted(feeds.fixes(name).items()):
        if kbs & have:
            continue
        out.append(
            {
                "host_id": row.id,
                "kind": "windows",
                "package": name,
                "installed": row.os_build,
                "fixed": f"KB{newest}",
                "cve": cve,
                "status": "fix",
                "severity": severity,
            }
        )
    return out
