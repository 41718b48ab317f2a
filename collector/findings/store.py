"""Evaluate hosts' latest reports and keep their findings (synchronous; one batch at a time).

The life of a finding (one row of ``findings`` is one *episode* of a check on a host):

* The first evaluation of a check on a host inserts a row with the result's status.
* Later evaluations update that row (status, message, severity, category, waiver,
  ``last_seen``) as long as the check does not pass after having failed.
* ``fail`` and ``waived`` count as failing: the row's ``last_failed`` is set. A row that had
  never failed (pass, unknown, not-applicable) and now fails starts the failure: its
  ``first_seen`` is reset to now, so ``first_seen`` of a failing finding is when the collector
  first saw it fail.
* A row that has failed and now passes (or is no longer applicable) is **resolved**:
  ``resolved_at`` is set, the row keeps its last status and message as history, and a new
  row starts with the new status. If the check fails again later, that is a **new finding**
  (a new row with its own ``first_seen``); the resolved rows are the history.
* ``unknown`` neither opens nor resolves: a failing finding whose fact stops being known
  stays open (status ``unknown``) until a report shows it passing.
* A check that is no longer in the packs: its open failure is resolved; a row that never
  failed is deleted.

The current finding of a (host, check) is the row with ``resolved_at`` NULL; a partial unique
index keeps it unique even with several evaluators (replicas, the CLI): the loser of a race
rolls back and evaluates its batch again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from collector.current_state import current_reports
from collector.db import Database
from collector.models import (
    Finding,
    Host,
    PolicyCheckState,
    PolicyState,
    SecurityUpdateSighting,
    Site,
    VulnFeed,
    VulnHostState,
    VulnKev,
    WaiverRecord,
    table_of,
    utcnow,
)
from collector.policy import PolicySet, Result, Waiver
from collector.policy.batch import HostItem, evaluate_one, sections_read
from collector.policy.facts import HOST_FACT_COLUMNS
from collector.vuln_rows import host_vuln_rows

log = logging.getLogger(__name__)

FAILING = frozenset({"fail", "waived"})
RESOLVING = frozenset({"pass", "not-applicable"})
BATCH_SIZE = 200
DIGEST_KEY = "policy_digest"

_F = table_of(Finding)
_H = table_of(Host)
_S = table_of(Site)
_W = table_of(WaiverRecord)
_SIGHT = table_of(SecurityUpdateSighting)
_VSTATE = table_of(VulnHostState)
_VFEEDS = table_of(VulnFeed)
_VKEV = table_of(VulnKev)
_STATE = table_of(PolicyState)
_CHECKS = table_of(PolicyCheckState)


@dataclass(frozen=True)
class Statements:
    """The write statements of a findings table (hosts' ``findings``, ``device_findings``),
    whose subject column is ``key``."""

    table: sa.Table
    key: str
    update: sa.Update
    resolve: sa.Update
    touch: sa.Update


def statements(table: sa.Table, key: str) -> Statements:
    columns = ("status", "severity", "category", "message", "message_de", "first_seen",
               "last_seen", "last_failed", "waiver_id", "waiver_reason",
               "waiver_until")  # fmt: skip
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("_id"))
        .values({c: sa.bindparam(c) for c in columns})
    )
    resolve = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("_id"))
        .values(resolved_at=sa.bindparam("resolved_at"), last_seen=sa.bindparam("last_seen"))
    )
    # Most evaluations change nothing but the times: one statement for all current rows.
    touch = (
        sa.update(table)
        .where(
            table.c[key].in_(sa.bindparam("subject_ids", expanding=True)),
            table.c.resolved_at.is_(None),
        )
        .values(
            last_seen=sa.bindparam("now"),
            last_failed=sa.case(
                (table.c.status.in_(sorted(FAILING)), sa.bindparam("now")),
                else_=table.c.last_failed,
            ),
        )
    )
    return Statements(table, key, update, resolve, touch)


HOST_FINDINGS = statements(_F, "host_id")
_COMPARED = ("status", "severity", "category", "message", "message_de", "first_seen",
             "waiver_id", "waiver_reason", "waiver_until")  # fmt: skip


@dataclass
class _HostInput:
    id: int
    site_id: int
    site: str
    machine_id: str
    report: dict[str, Any]
    collected_at: dt.datetime
    identity_change: tuple[bool, str | None]
    stored_facts: dict[str, Any]


@dataclass
class Changes:
    inserts: list[dict[str, Any]]
    updates: list[dict[str, Any]]
    resolves: list[dict[str, Any]]
    deletes: list[int]
    touched: list[int]  # the subjects evaluated
    new_sightings: list[dict[str, Any]]
    gone_sightings: list[tuple[int, str]]


def evaluate_hosts(
    db: Database,
    host_ids: Iterable[int],
    policies: PolicySet,
    *,
    now: dt.datetime | None = None,
    batch_size: int = BATCH_SIZE,
    only: frozenset[str] | None = None,
) -> int:
    """Evaluate the latest report of each host and store the findings; returns how many
    hosts were evaluated (hosts without a report are skipped). One transaction per batch.
    ``only``: the checks ``policies`` holds are some of the packs' (the others' findings
    stay), and these ids (those plus removed ones) are the findings to update."""
    now = now or utcnow()
    ids = sorted(set(host_ids))
    done = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        for attempt in range(3):
            try:
                done += _evaluate_batch(db, chunk, policies, now, only=only)
                break
            except IntegrityError:
                # Another evaluator wrote the same current findings meanwhile: read again.
                if attempt == 2:
                    raise
                log.info("findings of hosts %s changed concurrently; evaluating again", chunk)
    return done


def _evaluate_batch(
    db: Database,
    host_ids: Sequence[int],
    policies: PolicySet,
    now: dt.datetime,
    *,
    only: frozenset[str] | None = None,
) -> int:
    # Read and compute outside the write lock (SQLite has one writer: ingest waits for it).
    with db.engine.connect() as conn:
        hosts = _load_hosts(conn, host_ids, policies)
        if not hosts:
            return 0
        ids = [h.id for h in hosts]
        site_ids = sorted({h.site_id for h in hosts})
        current = current_findings(conn, HOST_FINDINGS, ids)
        waivers = _waivers(conn, ids, site_ids)
        sightings = _sightings(conn, ids)
        vulns = vuln_summaries(conn, ids)
    changes = Changes([], [], [], [], ids, [], [])
    items = []
    for host in hosts:
        seen = _update_sightings(host, sightings.get(host.id, {}), now, changes)
        report = dict(host.report)
        # Site waivers name the collector's site (the agent's host.site is only a hint).
        host_section = report.get("host")
        report["host"] = {**(host_section if isinstance(host_section, dict) else {}),
                          "site": host.site}  # fmt: skip
        host_waivers = waivers.get(host.id, []) + waivers.get(-host.site_id, [])
        derive_args = {"first_seen_pending": seen, "identity_change": host.identity_change,
                       "stored": host.stored_facts, "vulns": vulns.get(host.id)}  # fmt: skip
        items.append(HostItem(report, derive_args,
                              tuple(_policy_waiver(w, host) for w in host_waivers)))  # fmt: skip
    evaluated = [evaluate_one(policies, item, now) for item in items]
    for host, results in zip(hosts, evaluated, strict=True):
        host_waivers = waivers.get(host.id, []) + waivers.get(-host.site_id, [])
        diff(("host_id", host.id), results, current.get(host.id, {}), host_waivers, now=now,
             changes=changes, only=only)  # fmt: skip
    with db.write_session() as session:
        conn = session.connection()
        write(conn, HOST_FINDINGS, changes, now)
        if changes.gone_sightings:
            for host_id, name in changes.gone_sightings:
                conn.execute(
                    sa.delete(_SIGHT).where(_SIGHT.c.host_id == host_id, _SIGHT.c.name == name)
                )
        if changes.new_sightings:
            conn.execute(sa.insert(_SIGHT), changes.new_sightings)
        session.commit()
    return len(hosts)


_STORED_FACTS = (*HOST_FACT_COLUMNS, "start_date", "start_source")


def _load_hosts(
    conn: sa.Connection, host_ids: Sequence[int], policies: PolicySet
) -> list[_HostInput]:
    """The hosts' current state (never the stored raw reports) and stored derived facts: the
    sections the checks and the derived facts read, not the software list."""
    rows = conn.execute(
        sa.select(
            _H.c.id,
            _H.c.site_id,
            _H.c.machine_id,
            _S.c.name,
            _H.c.last_collected_at,
            _H.c.identity_changed_at,
            _H.c.identity_change,
            *(_H.c[c] for c in _STORED_FACTS),
        )
        .join(_S, _S.c.id == _H.c.site_id)
        .where(_H.c.id.in_(host_ids), _H.c.last_report_id.is_not(None))
        .order_by(_H.c.id)
    ).all()
    reports = current_reports(conn, [row.id for row in rows], sections_read(policies))
    out = []
    for row in rows:
        report = reports.get(row.id)
        if report is None:
            continue
        identity = (row.identity_changed_at is not None, row.identity_change)
        stored = {c: getattr(row, c) for c in _STORED_FACTS}
        out.append(
            _HostInput(
                row.id,
                row.site_id,
                row.name,
                row.machine_id,
                report,
                row.last_collected_at,
                identity,
                stored,
            )
        )
    return out


def vuln_summaries(conn: sa.Connection, host_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What the vulnerability checks judge per host (collector.policy.derive): the CVEs of its
    matched vulnerabilities (collector.vulns) in CISA's KEV and those rated critical, and
    whether it was matched at all and a KEV catalogue is imported (else: unknown)."""
    matched = {
        row[0]
        for row in conn.execute(
            sa.select(_VSTATE.c.host_id).where(_VSTATE.c.host_id.in_(list(host_ids)))
        )
    }
    feeds = set(conn.execute(sa.select(_VFEEDS.c.feed)).scalars())
    if not matched or not feeds & {"debian", "ubuntu", "msrc"}:
        return {}
    out: dict[int, dict[str, Any]] = {
        host_id: {"matched": True, "kev_imported": "kev" in feeds, "kev": [], "critical": []}
        for host_id in matched
    }
    hv = host_vuln_rows(sorted(matched))
    query = (
        sa.select(hv.c.host_id, hv.c.cve, hv.c.severity, _VKEV.c.cve.label("kev_cve"))
        .select_from(hv)
        .outerjoin(_VKEV, _VKEV.c.cve == hv.c.cve)
        .where(sa.or_(_VKEV.c.cve.is_not(None), hv.c.severity == "critical"))
        .order_by(hv.c.cve)
    )
    for row in conn.execute(query):
        entry = out[row.host_id]
        if row.kev_cve and row.cve not in entry["kev"]:
            entry["kev"].append(row.cve)
        if row.severity == "critical" and row.cve not in entry["critical"]:
            entry["critical"].append(row.cve)
    return out


def current_findings(
    conn: sa.Connection, table: Statements, subject_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """The current findings of each subject, by check id."""
    t = table.table
    out: dict[int, dict[str, Any]] = {}
    result = conn.execute(
        sa.select(t).where(t.c[table.key].in_(subject_ids), t.c.resolved_at.is_(None))
    )
    # Plain tuples zipped with the names once: a RowMapping builds its key view per row,
    # which was a tenth of a collector's CPU under a fleet's status reports.
    names = list(result.keys())
    key, check = names.index(table.key), names.index("check_id")
    for row in result:
        out.setdefault(row[key], {})[row[check]] = dict(zip(names, row, strict=True))
    return out


def _waivers(
    conn: sa.Connection, host_ids: Sequence[int], site_ids: Sequence[int]
) -> dict[int, list[WaiverRecord]]:
    """Waivers by host id, and by negative site id for site waivers."""
    out: dict[int, list[WaiverRecord]] = {}
    rows = conn.execute(
        sa.select(_W).where(sa.or_(_W.c.host_id.in_(host_ids), _W.c.site_id.in_(site_ids)))
    ).mappings()
    for row in rows:
        waiver = WaiverRecord(**row)
        key = waiver.host_id if waiver.host_id is not None else -(waiver.site_id or 0)
        out.setdefault(key, []).append(waiver)
    return out


def _policy_waiver(waiver: WaiverRecord, host: _HostInput) -> Waiver:
    if waiver.host_id is not None:
        return Waiver(waiver.check_id, waiver.reason, waiver.until, host=host.machine_id)
    return Waiver(waiver.check_id, waiver.reason, waiver.until, site=host.site)


def _sightings(conn: sa.Connection, host_ids: Sequence[int]) -> dict[int, dict[str, dt.datetime]]:
    out: dict[int, dict[str, dt.datetime]] = {}
    for row in conn.execute(sa.select(_SIGHT).where(_SIGHT.c.host_id.in_(host_ids))):
        out.setdefault(row.host_id, {})[row.name] = row.first_seen
    return out


def pending_security_names(report: dict[str, Any]) -> set[str]:
    patches = report.get("patches")
    if not isinstance(patches, dict):
        return set()
    pending = patches.get("pending") or []
    return {
        str(p.get("name"))[:256]
        for p in pending
        if isinstance(p, dict) and p.get("security") is True and p.get("name")
    }


def _update_sightings(
    host: _HostInput, known: dict[str, dt.datetime], now: dt.datetime, changes: Changes
) -> dict[str, dt.datetime]:
    """First sightings of the host's pending security updates, recorded for new ones (at the
    report's collection time, which is when it was seen) and forgotten for installed ones."""
    names = pending_security_names(host.report)
    seen_at = min(host.collected_at, now)
    out = {}
    for name in names:
        if name in known:
            out[name] = known[name]
        else:
            out[name] = seen_at
            changes.new_sightings.append({"host_id": host.id, "name": name, "first_seen": seen_at})
    changes.gone_sightings.extend((host.id, name) for name in known if name not in names)
    return out


def _active_waiver(check: str, waivers: list[WaiverRecord], today: dt.date) -> WaiverRecord | None:
    active = [w for w in waivers if w.check_id == check and today <= w.until]
    return max(active, key=lambda w: w.until) if active else None


def write(conn: sa.Connection, table: Statements, changes: Changes, now: dt.datetime) -> None:
    """Writes what evaluating a batch of subjects changed in their findings table."""
    conn.execute(table.touch, {"subject_ids": changes.touched, "now": now})
    if changes.resolves:
        conn.execute(table.resolve, changes.resolves)
    if changes.deletes:
        conn.execute(sa.delete(table.table).where(table.table.c.id.in_(changes.deletes)))
    if changes.updates:
        conn.execute(table.update, changes.updates)
    if changes.inserts:
        conn.execute(sa.insert(table.table), changes.inserts)


def diff(
    subject: tuple[str, int],
    results: list[Result],
    current: dict[str, dict[str, Any]],
    waivers: list[WaiverRecord],
    *,
    now: dt.datetime,
    changes: Changes,
    only: frozenset[str] | None = None,
) -> None:
    """Turns a subject's results into changes of its findings. ``only``: the checks that
    were evaluated (some of the packs' checks, after a pack change): the subject's other
    current findings stay as they are."""
    today = now.date()
    for result in results:
        waiver = _active_waiver(result.check, waivers, today) if result.status == "waived" else None
        failing = result.status in FAILING
        values = {
            "status": result.status,
            "severity": result.severity,
            "category": result.category,
            "message": result.messages.get("en", result.message),
            "message_de": result.messages.get("de"),
            "last_seen": now,
            "waiver_id": waiver.id if waiver else None,
            "waiver_reason": waiver.reason if waiver else None,
            "waiver_until": waiver.until if waiver else None,
        }
        row = current.pop(result.check, None)
        if row is not None and row["last_failed"] is not None and result.status in RESOLVING:
            changes.resolves.append(
                {"_id": row["id"], "resolved_at": now, "last_seen": row["last_seen"]}
            )
            row = None
        if row is None:
            changes.inserts.append(
                {
                    subject[0]: subject[1],
                    "check_id": result.check,
                    "first_seen": now,
                    "last_failed": now if failing else None,
                    "resolved_at": None,
                    **values,
                }
            )
            continue
        first_seen = row["first_seen"]
        if failing and row["last_failed"] is None:
            first_seen = now  # the failure starts now
        update = {
            "_id": row["id"],
            "first_seen": first_seen,
            "last_failed": now if failing else row["last_failed"],
            **values,
        }
        if any(update[key] != row[key] for key in _COMPARED):
            changes.updates.append(update)
    # Checks no longer in the packs.
    for check_id, row in current.items():
        if only is not None and check_id not in only:
            continue
        if row["last_failed"] is not None:
            changes.resolves.append(
                {"_id": row["id"], "resolved_at": now, "last_seen": row["last_seen"]}
            )
        else:
            changes.deletes.append(row["id"])


# --- whole-database jobs ------------------------------------------------------------------


def all_host_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(_H.c.id).where(_H.c.last_report_id.is_not(None)).order_by(_H.c.id)
            ).scalars()
        )


def unevaluated_host_ids(db: Database) -> list[int]:
    """Hosts with a report but no findings (stored while no evaluator ran)."""
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(_H.c.id)
                .where(
                    _H.c.last_report_id.is_not(None),
                    ~sa.exists().where(_F.c.host_id == _H.c.id),
                )
                .order_by(_H.c.id)
            ).scalars()
        )


def expired_waiver_ids(db: Database, table: Statements, today: dt.date) -> list[int]:
    """Subjects (of ``table``: hosts, devices) with a current finding waived by a waiver that
    has expired (or was removed)."""
    t = table.table
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.c[table.key])
                .where(
                    t.c.resolved_at.is_(None),
                    t.c.status == "waived",
                    ~sa.exists().where(_W.c.id == t.c.waiver_id, _W.c.until >= today),
                )
                .distinct()
            ).scalars()
        )


def expired_waiver_host_ids(db: Database, today: dt.date) -> list[int]:
    """Hosts with a current finding waived by a waiver that has expired (or was removed)."""
    return expired_waiver_ids(db, HOST_FINDINGS, today)


def stored_digest(db: Database) -> str | None:
    with db.engine.connect() as conn:
        value: str | None = conn.execute(
            sa.select(_STATE.c.value).where(_STATE.c.key == DIGEST_KEY)
        ).scalar()
        return value


def store_digest(db: Database, digest: str) -> None:
    with db.write_session() as session:
        conn = session.connection()
        updated = conn.execute(
            sa.update(_STATE).where(_STATE.c.key == DIGEST_KEY).values(value=digest)
        ).rowcount
        if not updated:
            conn.execute(sa.insert(_STATE).values(key=DIGEST_KEY, value=digest))
        session.commit()


# Re-evaluating every host after a pack change: larger batches, fewer transactions (a batch
# is one transaction; 2,000 hosts write in well under a second).
REEVALUATION_BATCH = 2000


def reevaluate_if_changed(
    db: Database,
    policies: PolicySet,
    *,
    now: dt.datetime | None = None,
) -> int | None:
    """The hosts again when the packs' digest differs from the one last evaluated with
    (stored in the database, so replicas and restarts agree); None when nothing changed.

    Only the checks the change touched are evaluated again (each check's digest is stored):
    editing one check re-evaluates that check on every host, not all of them. Changed
    reference data (policies/data) changes derived facts: then every check."""
    if stored_digest(db) == policies.digest:
        return None
    known = stored_check_digests(db)
    batch = REEVALUATION_BATCH
    current_ids = {c.id for c in policies.checks}
    if not known or known.get(REFERENCE_KEY) != policies.reference_digest:
        count = evaluate_hosts(db, all_host_ids(db), policies, now=now, batch_size=batch)
        what = "every check"
    else:
        changed = {c.id for c in policies.checks if known.get(c.id) != c.digest}
        removed = set(known) - current_ids - {c.id for c in policies.device_checks}
        removed.discard(REFERENCE_KEY)
        count = 0
        if changed or removed:
            count = evaluate_hosts(db, all_host_ids(db), policies.subset(changed), now=now,
                                   batch_size=batch,
                                   only=frozenset(changed | removed))  # fmt: skip
        what = f"{len(changed)} changed and {len(removed)} removed check(s)"
    store_check_digests(db, policies)
    store_digest(db, policies.digest)
    log.info("policy packs changed (digest %s): re-evaluated %d hosts for %s",
             policies.digest[:12], count, what)  # fmt: skip
    return count


REFERENCE_KEY = "(reference data)"  # the reference data's digest, beside the checks'


def stored_check_digests(db: Database) -> dict[str, str]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.select(_CHECKS.c.check_id, _CHECKS.c.digest)).all())


def store_check_digests(db: Database, policies: PolicySet) -> None:
    rows = [{"check_id": c.id, "digest": c.digest}
            for c in (*policies.checks, *policies.device_checks)]  # fmt: skip
    rows.append({"check_id": REFERENCE_KEY, "digest": policies.reference_digest})
    with db.write_session() as session:
        conn = session.connection()
        conn.execute(sa.delete(_CHECKS))
        conn.execute(sa.insert(_CHECKS), rows)
        session.commit()
