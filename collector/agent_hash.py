"""The agent's hash of a section (agent.delta.section_hash), computed where a report arrives.

The agent hashes the canonical JSON of each section (the standard library's ``json.dumps``
with sorted keys, no spaces, UTF-8); the collector computes the same hash of every section
a report carries, to check a delta's and to check the next delta against. For 300 packages
that took 0.6 ms, the largest part of storing a delta that changed the software. orjson and
msgspec with sorted keys write the same bytes in a tenth of the time for strings, integers
(up to 64 bits), booleans, null, lists and objects; they write floats differently ("1e16"
where Python writes "1e+16"). So sections whose schema has no float (and nothing untyped)
are hashed that way, the others as the agent does; an integer beyond 64 bits, which orjson
refuses, falls back too. A decoded report's sections are hashed from its models directly
(msgspec, no parse). tests/collector/test_agent_hash.py holds all of them to the same bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import orjson
from msgspec import inspect

from agent.delta import HASH_HEX_DIGITS, section_hash
from agent.schema import SECTIONS, Report
from collector import fastjson


def _has_float(kind: Any, seen: set[type]) -> bool:
    """Whether a value of this msgspec type may hold a float (or anything: Any)."""
    if isinstance(kind, inspect.FloatType | inspect.AnyType):
        return True
    if isinstance(kind, inspect.StructType):
        if kind.cls in seen:
            return False
        seen.add(kind.cls)
        return any(_has_float(f.type, seen) for f in kind.fields)
    inner: list[Any] = []
    for attr in ("item_type", "key_type", "value_type"):
        if (found := getattr(kind, attr, None)) is not None:
            inner.append(found)
    for attr in ("types", "item_types"):
        inner.extend(getattr(kind, attr, ()) or ())
    return any(_has_float(k, seen) for k in inner)


FLOAT_FREE: frozenset[str] = frozenset(
    f.name
    for f in inspect.type_info(Report).fields  # type: ignore[attr-defined]
    if f.name in SECTIONS and not _has_float(f.type, set())
)


def agent_hash(section: str, value: Any) -> str:
    """agent.delta.section_hash of ``value``, a section's JSON data."""
    if section in FLOAT_FREE:
        try:
            text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # an integer beyond 64 bits: as the agent computes it
        else:
            return hashlib.sha256(text).hexdigest()[:HASH_HEX_DIGITS]
    return section_hash(value)


_SORTED = msgspec.json.Encoder(order="sorted")


def model_hash(section: str, model: Any, dump: bytes) -> str:
    """agent.delta.section_hash of a decoded report's section: ``model`` as agent.schema
    decoded it, ``dump`` its JSON as agent.schema.encode writes it."""
    if section in FLOAT_FREE:
        return hashlib.sha256(_SORTED.encode(model)).hexdigest()[:HASH_HEX_DIGITS]
    return section_hash(fastjson.loads(dump))
