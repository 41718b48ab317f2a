"""A report body to what storing it needs: inflate (bounded), parse, validate, hash sections.

Pure and free of the database, so that it also runs in the decode worker processes
(collector.decode_pool). Every refusal is a :class:`BadReport` with a 4xx status and a
message saying what is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from pydantic import ValidationError

from agent.schema import (
    SCHEMA_VERSION,
    SECTIONS,
    Report,
    SchemaError,
    convert,
    decode_report,
    encode,
    to_data,
)
from collector import fastjson
from collector.agent_hash import model_hash
from collector.limits import Limits
from collector.policy.facts import DATE_FACTS, FACTS_OF_SECTION, section_facts
from collector.reference_cache import NO_FACTS, FactsBasis
from collector.sections import (
    ALL_STABLE,
    DECLARATIONS,
    collection_state,
    host_columns,
    stable,
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
    check = check_string if strings else _no_check
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


def check_string(value: str) -> None:
    if "\x00" in value:
        raise BadReport(400, "strings must not contain NUL characters (\\u0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadReport(400, "strings must not contain lone UTF-16 surrogates") from None


def _clean_loc(loc: Iterable[Any]) -> list[Any]:
    return [part if isinstance(part, int) else str(part)[:100] for part in loc]


# msgspec's message: "<what> - at `$.hardware.disks[0].size_bytes`" (no "at" at the top level).
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def schema_errors(exc: SchemaError) -> list[dict[str, Any]]:
    """A report's schema error as a client may see it, in the form of validation_errors():
    where (``loc``), what, which kind. msgspec stops at the first error, so there is one."""
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any text
    message, path = match.group("msg"), match.group("path") or ""
    loc: list[Any] = [int(i) if i else key for key, i in _PATH_PART.findall(path)]
    field = re.search(r"field `([^`]+)`", message)
    if message.startswith("Object missing required field") and field:
        kind = "missing"
        loc.append(field.group(1))
    elif message.startswith("Object contains unknown field") and field:
        kind = "extra_forbidden"
        loc.append(field.group(1))
    else:
        kind = "invalid"
    return [{"loc": _clean_loc(loc), "msg": message[:300], "type": kind}]


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """A request's schema errors (pydantic's, of the API's request models) as a client may
    see them: where, what, which kind (no input echoed back), the first MAX_ERRORS_SHOWN
    only."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return [
        {"loc": _clean_loc(e["loc"]), "msg": e["msg"][:300], "type": e["type"]}
        for e in errors[:MAX_ERRORS_SHOWN]
    ]


def parse_report(data: bytes, limits: Limits) -> Report:
    """The validated report, or a BadReport saying what is wrong.

    Most reports take the fast path: msgspec parses and validates the bytes in one go. A body
    with ``\\u`` escapes (which could hide NUL or lone surrogates) and every body the fast path
    refuses go through the careful path, which gives each kind of bad input its own answer.
    """
    if b"\\u" not in data:
        try:
            report = decode_report(data)
        except msgspec.DecodeError:  # SchemaError too
            pass  # let the careful path say precisely what is wrong
        else:
            if report.host is not None and report.host.machine_id:
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
        report = convert(obj, Report)
    except SchemaError as exc:
        raise BadReport(
            422,
            f"report does not match schema version {SCHEMA_VERSION}: {exc}"[:400],
            schema_errors(exc),
        ) from None
    if report.host is None or not report.host.machine_id:
        raise BadReport(422, "host.machine_id is required")
    return report


@dataclass(frozen=True)
class DecodedReport:
    """What storing a report needs, and nothing that costs much to send between processes.

    ``sections`` holds the JSON (as the schema dumps it) of every section the report carries:
    all of them for a full report, for a delta report (``is_delta``) only those it sent, which
    the store merges with the host's current state after checking ``delta_hashes``.
    ``host_columns`` are the ``hosts`` columns of the carried sections; ``agent_hashes`` the
    agent's hash (agent.delta.section_hash) of each carried section;
    ``facts`` the derived host facts of the carried sections (collector.policy.facts.
    section_facts), computed with the reference data of digest ``facts_digest`` ("" = none).
    """

    report_id: str
    machine_id: str
    collected_at: dt.datetime  # timezone-aware; UTC where the report gave no zone
    schema_version: int
    is_delta: bool
    host_columns: dict[str, Any]  # hosts table column -> value
    section_hashes: dict[str, str]  # carried section -> the collector's change hash
    stable_hashes: dict[str, str]  # carried section -> hash without its volatile fields
    agent_hashes: dict[str, str]  # carried section -> the agent's hash of it
    sections: dict[str, bytes]  # carried section -> its JSON
    facts: dict[str, Any]  # hosts fact column -> value, for the carried sections' facts
    facts_digest: str
    collection: bytes  # JSON of what the current state keeps of ``collection``
    agent_version: str | None
    delta_base: str | None  # a delta's base report id, as the agent says
    delta_hashes: dict[str, str]  # a delta's agent hashes of ALL its sections

    @classmethod
    def of(
        cls, report: Report, basis: FactsBasis = NO_FACTS, sent: Iterable[str] | None = None
    ) -> DecodedReport:
        """``sent``: a delta's top-level keys as it came (see carried_sections)."""
        assert report.host is not None and report.host.machine_id
        collected_at = report.collected_at
        if collected_at.tzinfo is None:
            collected_at = collected_at.replace(tzinfo=dt.UTC)
        delta = report.delta
        carried = SECTIONS if delta is None else carried_sections(report, sent)
        dumps = {s: encode(getattr(report, s)) for s in carried}
        hashes = {s: _hash(dump) for s, dump in dumps.items()}
        facts: dict[str, Any] = {}
        if basis.digest:
            for section in FACTS_OF_SECTION:
                if section in dumps:
                    data = fastjson.loads(dumps[section])
                    facts.update(section_facts(section, data, basis.reference))
        return cls(
            report_id=str(report.report_id),
            machine_id=report.host.machine_id,
            collected_at=collected_at,
            schema_version=report.schema_version,
            is_delta=delta is not None,
            host_columns=_host_columns(report, carried),
            section_hashes=hashes,
            stable_hashes={s: stable_hash(s, d, hashes[s]) for s, d in dumps.items()},
            # A delta is checked against them, and the next delta against them as stored.
            agent_hashes={s: model_hash(s, getattr(report, s), d) for s, d in dumps.items()},
            sections=dumps,
            facts=facts,
            facts_digest=basis.digest,
            collection=json.dumps(
                collection_state(to_data(report.collection)),
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode(),
            agent_version=report.agent.version,
            delta_base=(
                str(delta.base_report_id) if delta is not None and delta.base_report_id else None
            ),
            delta_hashes=dict(delta.section_hashes) if delta is not None else {},
        )

    def section_data(self, section: str) -> Any:
        """A carried section as JSON data."""
        return fastjson.loads(self.sections[section])

    # The wire form holds only what marshal can carry: the fastest codec between processes
    # of the same interpreter (dates as ISO text).
    def to_wire(self) -> tuple[Any, ...]:
        facts = {k: v.isoformat() if k in DATE_FACTS and v is not None else v
                 for k, v in self.facts.items()}  # fmt: skip
        return (
            self.report_id, self.machine_id, self.collected_at.isoformat(),
            self.schema_version, self.is_delta, self.host_columns, self.section_hashes,
            self.stable_hashes, self.agent_hashes, self.sections, facts, self.facts_digest,
            self.collection, self.agent_version, self.delta_base, self.delta_hashes,
        )  # fmt: skip

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...]) -> DecodedReport:
        (rid, mid, collected, version, is_delta, columns, hashes, stable_hashes, agent_hashes,
         sections, facts, facts_digest, collection, agent_version, delta_base,
         delta_hashes) = wire  # fmt: skip
        facts = {k: dt.date.fromisoformat(v) if k in DATE_FACTS and v is not None else v
                 for k, v in facts.items()}  # fmt: skip
        return cls(rid, mid, dt.datetime.fromisoformat(collected), version, is_delta, columns,
                   hashes, stable_hashes, agent_hashes, sections, facts, facts_digest, collection,
                   agent_version, delta_base, delta_hashes)  # fmt: skip


def carried_sections(report: Report, sent: Iterable[str] | None = None) -> tuple[str, ...]:
    """The sections a delta report really carries (an absent one means "unchanged"; a null
    one "unknown now"). ``sent``: the report's top-level keys as it came; without them, the
    sections that are not null."""
    if sent is None:
        return tuple(s for s in SECTIONS if getattr(report, s) is not None or s == "host")
    keys = frozenset(sent)
    return tuple(s for s in SECTIONS if s in keys or s == "host")


def sent_keys(data: bytes) -> frozenset[str]:
    """The top-level keys of a report's JSON (already parsed once, so valid), without
    parsing their values."""
    return frozenset(_TOP_LEVEL.decode(data))


_TOP_LEVEL = msgspec.json.Decoder(dict[str, msgspec.Raw])


def decode(
    body: bytes, content_encoding: str | None, limits: Limits, basis: FactsBasis = NO_FACTS
) -> DecodedReport:
    """A request body to a DecodedReport, or a BadReport saying what is wrong with it."""
    data = decompress(body, content_encoding, limits)
    report = parse_report(data, limits)
    sent = sent_keys(data) if report.delta is not None else None
    return DecodedReport.of(report, basis, sent)


def _hash(dump: bytes) -> str:
    return hashlib.blake2b(dump, digest_size=16).hexdigest()


def change_hash(dump: bytes) -> str:
    """The collector's hash of a section's JSON: equal hashes, unchanged section."""
    return _hash(dump)


def stable_hash(section: str, dump: bytes, whole: str | None = None) -> str:
    """The hash of a section's JSON (as the schema dumps it) without its volatile fields
    (collector.sections): equal hashes, no change the history keeps. ``whole``: the dump's
    change hash, if known (it is the stable hash of a section without volatile fields)."""
    if section in ALL_STABLE:
        return _hash(dump) if whole is None else whole
    # Encoded as the schema encodes a section, so the hash equals that of the same section
    # dumped without its volatile fields.
    return _hash(encode(stable(section, fastjson.loads(dump))))


def _host_columns(report: Report, carried: tuple[str, ...]) -> dict[str, Any]:
    """The host table's columns that mirror fields of the carried sections."""
    columns = host_columns({s: getattr(report, s) for s in carried})
    kept = {c for s in carried for c in DECLARATIONS[s].host_columns.values()}
    return {c: v for c, v in columns.items() if c in kept}
