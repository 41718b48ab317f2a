"""Report ingestion: decode (bounded) -> parse (bounded) -> validate -> store in one transaction.

Every refusal is a :class:`BadReport` with a 4xx status and a message saying what is wrong;
nothing is written before a report has passed every check, and the store is one transaction,
so a refused or failed report leaves the stored data as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from agent.schema import SCHEMA_VERSION, SECTIONS, Report
from collector.models import (
    Agent,
    DisplayRow,
    Host,
    InterfaceRow,
    PendingPatchRow,
    ReportRecord,
    Site,
    SoftwareRow,
    WlanRow,
    table_of,
    utcnow,
)

MAX_ERRORS_SHOWN = 20


class BadReport(Exception):
    """A refused report: HTTP ``status`` (4xx) and a message; ``errors`` for schema details."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detail": self.message}
        if self.errors:
            out["errors"] = self.errors
        return out


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_decompressed_bytes: int = 32 * 1024 * 1024
    max_json_depth: int = 16


def decompress(body: bytes, content_encoding: str | None, limits: Limits) -> bytes:
    """Undoes Content-Encoding; gzip is inflated with a cap on the output (no gzip bomb)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        if len(body) > limits.max_decompressed_bytes:
            raise BadReport(413, f"body exceeds {limits.max_decompressed_bytes} bytes")
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise BadReport(415, f"unsupported Content-Encoding {encoding[:40]!r}; use gzip")
    cap = limits.max_decompressed_bytes
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, cap + 1)
    except zlib.error as exc:
        raise BadReport(400, f"body is not valid gzip: {exc}") from None
    if len(out) > cap or inflater.unconsumed_tail:
        raise BadReport(413, f"decompressed body exceeds {cap} bytes")
    if not inflater.eof:
        raise BadReport(400, "body is not valid gzip: truncated stream")
    if inflater.unused_data:
        raise BadReport(400, "body is not valid gzip: data after the end of the stream")
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_tree(obj: Any, max_depth: int, strings: bool = True) -> None:
    """Nesting depth, NUL characters and lone surrogates (which no database can store).

    ``strings=False`` skips the string checks: in valid UTF-8 JSON text, NUL and lone
    surrogates can only come from ``\\u`` escapes, so text without any needs none.
    """
    check = _check_string if strings else _no_check
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                raise BadReport(400, f"JSON nesting deeper than {max_depth} levels")
            for key, item in value.items():
                check(key)
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1))
                elif isinstance(item, str):
                    check(item)
        elif isinstance(value, list):
            if depth > max_depth:
                raise BadReport(400, f"JSON nesting deeper than {max_depth} levels")
            for item in value:
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1))
                elif isinstance(item, str):
                    check(item)


def _no_check(_value: str) -> None:
    return None


def _check_string(value: str) -> None:
    if "\x00" in value:
        raise BadReport(400, "strings must not contain NUL characters (\\u0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadReport(400, "strings must not contain lone UTF-16 surrogates") from None


def _clean_loc(loc: Iterable[Any]) -> list[Any]:
    return [part if isinstance(part, int) else str(part)[:100] for part in loc]


def parse_report(data: bytes, limits: Limits) -> Report:
    """The validated report, or a BadReport saying what is wrong.

    Most reports take the fast path: pydantic parses and validates the bytes in one go. A body
    with ``\\u`` escapes (which could hide NUL or lone surrogates) and every body the fast path
    refuses go through the careful path, which gives each kind of bad input its own answer.
    """
    if b"\\u" not in data:
        try:
            report = Report.model_validate_json(data)
        except ValidationError:
            pass  # let the careful path say precisely what is wrong
        else:
            # schema_version has a default in the model, but a report must say it.
            if (
                "schema_version" in report.model_fields_set
                and report.host is not None
                and report.host.machine_id
            ):
                return report
    return _parse_report_carefully(data, limits)


def _parse_report_carefully(data: bytes, limits: Limits) -> Report:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadReport(400, f"body is not valid UTF-8 (at byte {exc.start})") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadReport(400, f"JSON nesting deeper than {limits.max_json_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise BadReport(
            400, f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # NaN/Infinity, integers beyond Python's digit limit
        raise BadReport(400, f"malformed JSON: {str(exc)[:200]}") from None
    _check_tree(obj, limits.max_json_depth, strings="\\u" in text)
    if not isinstance(obj, dict):
        raise BadReport(422, "a report must be a JSON object")
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        shown = json.dumps(version)[:40]
        raise BadReport(
            422, f"unsupported schema_version {shown}; this collector accepts {SCHEMA_VERSION}"
        )
    try:
        report = Report.model_validate(obj)
    except ValidationError as exc:
        errors = [
            {"loc": _clean_loc(e["loc"]), "msg": e["msg"][:300], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise BadReport(
            422,
            f"report does not match schema version {SCHEMA_VERSION}: {exc.error_count()} error(s)",
            errors[:MAX_ERRORS_SHOWN],
        ) from None
    if report.host is None or not report.host.machine_id:
        raise BadReport(422, "host.machine_id is required")
    return report


@dataclass
class StoreResult:
    status: str  # "stored" | "duplicate"
    report_id: str
    host_id: int
    changed_sections: list[str] = field(default_factory=list)


# One serializer per section, built once: pydantic's (Rust) JSON of a section is what the
# collector compares to notice a change. Only the collector reads these hashes; the agent's
# delta hashes are agent.delta's, a different (slower, canonical) form.
def _section_adapter(section: str) -> TypeAdapter[Any]:
    annotation: Any = Report.model_fields[section].annotation
    return TypeAdapter(annotation)


_SECTION_ADAPTERS = {s: _section_adapter(s) for s in SECTIONS}


def section_hashes(report: Report) -> dict[str, str]:
    """A short hash of each section's content, for change detection."""
    return {
        s: hashlib.blake2b(adapter.dump_json(getattr(report, s)), digest_size=16).hexdigest()
        for s, adapter in _SECTION_ADAPTERS.items()
    }


def section_data(report: Report, sections: Iterable[str]) -> dict[str, Any]:
    """The named sections as JSON data (only those: a whole dump costs more)."""
    return {s: _SECTION_ADAPTERS[s].dump_python(getattr(report, s), mode="json") for s in sections}


_HOST_FIELDS = {
    "host": {
        "hostname": "hostname",
        "fqdn": "fqdn",
        "serial": "serial",
        "manufacturer": "manufacturer",
        "model": "model",
        "chassis": "chassis",
        "role": "role",
    },
    "os": {
        "family": "os_family",
        "name": "os_name",
        "version": "os_version",
        "build": "os_build",
        "kernel": "kernel",
        "arch": "arch",
    },
    "hardware": {"cpu_model": "cpu_model", "memory_bytes": "memory_bytes"},
}


def _rows(
    section: str, dump: dict[str, Any], host_id: int
) -> tuple[type[SQLModel], list[dict[str, Any]]]:
    keys: tuple[str, ...]
    if section == "displays":
        keys = ("connector", "internal", "vendor_pnp", "model", "serial", "diagonal_in")
        keys += ("native_width_px", "native_height_px", "year")
        return DisplayRow, [
            {"host_id": host_id, **{k: d.get(k) for k in keys}} for d in dump["displays"] or []
        ]
    if section == "network":
        interfaces = (dump["network"] or {}).get("interfaces") or []
        return InterfaceRow, [
            {
                "host_id": host_id,
                "name": i.get("name"),
                "mac": i.get("mac"),
                "kind": i.get("kind"),
                "up": i.get("up"),
                "speed_mbps": i.get("speed_mbps"),
                "addresses": i.get("addresses") or [],
            }
            for i in interfaces
        ]
    if section == "wlan":
        interfaces = (dump["wlan"] or {}).get("interfaces") or []
        keys = ("connected", "ssid", "bssid", "security", "cipher", "frequency_mhz", "signal_dbm")
        return WlanRow, [
            {"host_id": host_id, "interface": w.get("name"), **{k: w.get(k) for k in keys}}
            for w in interfaces
        ]
    if section == "patches":
        pending = (dump["patches"] or {}).get("pending") or []
        keys = ("name", "installed", "available", "security")
        return PendingPatchRow, [
            {"host_id": host_id, **{k: p.get(k) for k in keys}} for p in pending
        ]
    if section == "software":
        keys = ("name", "version", "publisher")
        return SoftwareRow, [
            {"host_id": host_id, **{k: s.get(k) for k in keys}} for s in dump["software"] or []
        ]
    raise KeyError(section)


NORMALIZED = ("displays", "network", "wlan", "patches", "software")


_HOSTS = table_of(Host)
_REPORTS = table_of(ReportRecord)
_AGENTS = table_of(Agent)


@dataclass(frozen=True)
class AgentIdentity:
    id: str
    machine_id: str
    site_id: int
    org_id: int


_SITES = table_of(Site)


# The hot path's statements, built once: building a statement per request costs more than
# SQLite takes to run it. Executions then hit SQLAlchemy's compiled-statement cache.
_FIND_AGENT = (
    sa.select(_AGENTS.c.id, _AGENTS.c.machine_id, _AGENTS.c.site_id, _SITES.c.org_id)
    .join(_SITES, _SITES.c.id == _AGENTS.c.site_id)
    .where(_AGENTS.c.token_hash == sa.bindparam("token_hash"), _AGENTS.c.revoked == sa.false())
)
_FIND_HOST = sa.select(_HOSTS.c.id, _HOSTS.c.last_collected_at, _HOSTS.c.section_hashes).where(
    _HOSTS.c.org_id == sa.bindparam("org_id"), _HOSTS.c.machine_id == sa.bindparam("machine_id")
)
_FIND_REPORT = sa.select(_REPORTS.c.host_id).where(
    _REPORTS.c.report_id == sa.bindparam("report_id")
)
_TOUCH_AGENT = (
    sa.update(_AGENTS)
    .where(_AGENTS.c.id == sa.bindparam("agent_id"), _AGENTS.c.revoked == sa.false())
    .values(last_seen=sa.bindparam("now"))
)
_INSERT_REPORT = sa.insert(_REPORTS)
_HOST_COLUMNS = [column for fields in _HOST_FIELDS.values() for column in fields.values()]
# Every column a report sets, always all of them: one statement shape, compiled once.


def _bind(column: str) -> sa.BindParameter[Any]:
    """A bind parameter carrying its column's type (UTC timestamps, JSON)."""
    return sa.bindparam(f"b_{column}", type_=_HOSTS.c[column].type)


# Every column a report sets, always all of them: one statement shape, compiled once.
_UPDATE_HOST_LATEST = (
    sa.update(_HOSTS)
    .where(_HOSTS.c.id == sa.bindparam("b_host_id"))
    .values(
        {
            column: _bind(column)
            for column in (
                *_HOST_COLUMNS,
                "last_seen",
                "section_hashes",
                "site_id",
                "last_collected_at",
                "last_report_id",
            )
        }
        # An import carries no agent: the host keeps the agent it has.
        | {"agent_id": sa.func.coalesce(_bind("agent_id"), _HOSTS.c.agent_id)}
    )
)
_UPDATE_HOST_SEEN = (
    sa.update(_HOSTS)
    .where(_HOSTS.c.id == sa.bindparam("b_host_id"))
    .values(last_seen=_bind("last_seen"))
)


def _host_columns(report: Report) -> dict[str, Any]:
    """The host table's columns that mirror report fields, as bind parameters."""
    out: dict[str, Any] = {}
    for section, fields in _HOST_FIELDS.items():
        part = getattr(report, section)
        for key, column in fields.items():
            out[f"b_{column}"] = getattr(part, key) if part is not None else None
    return out


def find_agent(conn: sa.Connection, token_hash: str) -> AgentIdentity | None:
    """The enrolled, not revoked agent with this token hash, with its site's organization."""
    row = conn.execute(_FIND_AGENT, {"token_hash": token_hash}).first()
    if row is None:
        return None
    return AgentIdentity(row.id, row.machine_id, row.site_id, row.org_id)


def store_report(
    session: Session,
    report: Report,
    raw: str,
    *,
    site: Site,
    agent: Agent | None = None,
    source: str = "agent",
) -> StoreResult:
    """Stores one validated report in one transaction; a known report_id stores nothing."""
    assert site.id is not None
    return store(session, report, raw, site_id=site.id, org_id=site.org_id,
                 agent_id=agent.id if agent else None, source=source)  # fmt: skip


def store(
    session: Session,
    report: Report,
    raw: str,
    *,
    site_id: int,
    org_id: int,
    agent_id: str | None,
    source: str = "agent",
) -> StoreResult:
    """The ingest hot path, in SQLAlchemy Core: a handful of statements, one transaction."""
    assert report.host is not None and report.host.machine_id
    conn = session.connection()
    report_id = str(report.report_id)
    machine_id = report.host.machine_id
    host = conn.execute(_FIND_HOST, {"org_id": org_id, "machine_id": machine_id}).first()
    now = utcnow()
    # Revoked since the request was authenticated (or since the token was cached)? Checked
    # inside the transaction, before anything else, resends included.
    if (
        agent_id is not None
        and conn.execute(_TOUCH_AGENT, {"agent_id": agent_id, "now": now}).rowcount == 0
    ):
        raise BadReport(401, "agent token was revoked")
    existing = conn.execute(_FIND_REPORT, {"report_id": report_id}).scalar()
    if existing is not None:
        if host is None or existing != host.id:
            raise BadReport(409, "report_id is already used by a report of another host")
        return StoreResult("duplicate", report_id, existing)
    if report.delta is not None:  # merged into the host's latest report, or 409 need_full
        from collector.delta import resolve  # noqa: PLC0415  (it imports this module)

        report, raw = resolve(session, host.id if host is not None else None, report)
    collected_at = report.collected_at
    if collected_at.tzinfo is None:
        collected_at = collected_at.replace(tzinfo=dt.UTC)
    if host is None:
        host_id = conn.execute(
            sa.insert(_HOSTS)
            .values(org_id=org_id, site_id=site_id, machine_id=machine_id, first_seen=now,
                    last_seen=now, section_hashes={})
            .returning(_HOSTS.c.id)
        ).scalar_one()  # fmt: skip
        last_collected, old_hashes = None, {}
    else:
        host_id, last_collected, old_hashes = host.id, host.last_collected_at, host.section_hashes
    # An older report (sent late from the agent's spool) goes into the history only.
    is_latest = last_collected is None or collected_at >= last_collected
    changed: list[str] = []
    if is_latest:
        hashes = section_hashes(report)
        old = old_hashes or {}
        changed = [s for s in SECTIONS if old.get(s) != hashes[s]]
        dump = section_data(report, [s for s in changed if s in NORMALIZED])
        for section in dump:
            model, rows = _rows(section, dump, host_id)
            table = table_of(model)
            conn.execute(sa.delete(table).where(table.c.host_id == host_id))
            if rows:
                conn.execute(sa.insert(table), rows)
        values = _host_columns(report)
        values.update(
            b_host_id=host_id,
            b_last_seen=now,
            b_section_hashes=hashes,
            b_site_id=site_id,
            b_last_collected_at=collected_at,
            b_last_report_id=report_id,
            b_agent_id=agent_id,
        )
        conn.execute(_UPDATE_HOST_LATEST, values)
    else:
        conn.execute(_UPDATE_HOST_SEEN, {"b_host_id": host_id, "b_last_seen": now})
    conn.execute(
        _INSERT_REPORT,
        {
            "report_id": report_id,
            "host_id": host_id,
            "agent_id": agent_id,
            "schema_version": report.schema_version,
            "collected_at": collected_at,
            "received_at": now,
            "source": source,
            "size_bytes": len(raw) if raw.isascii() else len(raw.encode("utf-8")),
            "changed_sections": changed,
            "raw": raw,
        },
    )
    try:
        session.commit()
    except IntegrityError:
        # Another request stored the same report_id (or created the host) meanwhile.
        session.rollback()
        again = (
            session.connection()
            .execute(sa.select(_REPORTS.c.host_id).where(_REPORTS.c.report_id == report_id))
            .scalar()
        )
        if again is not None:
            return StoreResult("duplicate", report_id, again)
        raise
    return StoreResult("stored", report_id, host_id, changed)
