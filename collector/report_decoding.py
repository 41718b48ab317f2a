"""A report body to what storing it needs: inflate (bounded), parse, validate, hash sections.

Pure and free of the database, so that it also runs in the decode worker processes
(collector.decode_pool). Every refusal is a :class:`BadReport` with a 4xx status and a
message saying what is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agent.schema import SCHEMA_VERSION, SECTIONS, Report

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


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """A request's schema errors as a client may see them: where, what, which kind (no input
    echoed back), the first MAX_ERRORS_SHOWN only."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return [
        {"loc": _clean_loc(e["loc"]), "msg": e["msg"][:300], "type": e["type"]}
        for e in errors[:MAX_ERRORS_SHOWN]
    ]


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
        raise BadReport(
            422,
            f"report does not match schema version {SCHEMA_VERSION}: {exc.error_count()} error(s)",
            validation_errors(exc),
        ) from None
    if report.host is None or not report.host.machine_id:
        raise BadReport(422, "host.machine_id is required")
    return report


# Sections with tables of their own (collector.models): storing one needs its data, not
# only its hash.
NORMALIZED = ("displays", "network", "wlan", "patches", "software")


@dataclass(frozen=True)
class DecodedReport:
    """What storing a report needs, and nothing that costs much to send between processes.

    A delta report (``is_delta``) carries no hashes or sections: it means something only
    merged with the host's latest report, which the store does.
    """

    report_id: str
    machine_id: str
    collected_at: dt.datetime  # timezone-aware; UTC where the report gave no zone
    schema_version: int
    is_delta: bool
    host_columns: dict[str, Any]  # hosts table column -> value
    section_hashes: dict[str, str]
    normalized: dict[str, bytes]  # JSON of each NORMALIZED section
    raw: str  # the report as received

    @classmethod
    def of(cls, report: Report, raw: str) -> DecodedReport:
        assert report.host is not None and report.host.machine_id
        collected_at = report.collected_at
        if collected_at.tzinfo is None:
            collected_at = collected_at.replace(tzinfo=dt.UTC)
        is_delta = report.delta is not None
        dumps = {} if is_delta else section_json(report)
        return cls(
            report_id=str(report.report_id),
            machine_id=report.host.machine_id,
            collected_at=collected_at,
            schema_version=report.schema_version,
            is_delta=is_delta,
            host_columns=_host_columns(report),
            section_hashes={s: _hash(dump) for s, dump in dumps.items()},
            normalized={s: dumps[s] for s in NORMALIZED if s in dumps},
            raw=raw,
        )

    def section_data(self, section: str) -> Any:
        """A normalized section as JSON data."""
        return json.loads(self.normalized[section])

    # The wire form holds only what marshal can carry: the fastest codec between processes
    # of the same interpreter.
    def to_wire(self) -> tuple[Any, ...]:
        return (
            self.report_id, self.machine_id, self.collected_at.isoformat(),
            self.schema_version, self.is_delta, self.host_columns, self.section_hashes,
            self.normalized, self.raw,
        )  # fmt: skip

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...]) -> DecodedReport:
        rid, mid, collected, version, is_delta, columns, hashes, normalized, raw = wire
        return cls(rid, mid, dt.datetime.fromisoformat(collected), version, is_delta, columns,
                   hashes, normalized, raw)  # fmt: skip


def decode(body: bytes, content_encoding: str | None, limits: Limits) -> DecodedReport:
    """A request body to a DecodedReport, or a BadReport saying what is wrong with it."""
    data = decompress(body, content_encoding, limits)
    report = parse_report(data, limits)
    return DecodedReport.of(report, data.decode("utf-8"))  # parse_report checked the UTF-8


def section_json(report: Report) -> dict[str, bytes]:
    """Each section as pydantic's (Rust) JSON: what the collector hashes to notice a change.

    Only the collector reads these hashes; the agent's delta hashes are agent.delta's, a
    different (slower, canonical) form.
    """
    return {s: adapter.dump_json(getattr(report, s)) for s, adapter in _SECTION_ADAPTERS.items()}


def _hash(dump: bytes) -> str:
    return hashlib.blake2b(dump, digest_size=16).hexdigest()


# One serializer per section, built once.
def _section_adapter(section: str) -> TypeAdapter[Any]:
    annotation: Any = Report.model_fields[section].annotation
    return TypeAdapter(annotation)


_SECTION_ADAPTERS = {s: _section_adapter(s) for s in SECTIONS}


# The report fields that the hosts table mirrors: section -> field -> column.
HOST_FIELDS = {
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


def _host_columns(report: Report) -> dict[str, Any]:
    """The host table's columns that mirror report fields."""
    out: dict[str, Any] = {}
    for section, fields in HOST_FIELDS.items():
        part = getattr(report, section)
        for key, column in fields.items():
            out[column] = getattr(part, key) if part is not None else None
    return out
