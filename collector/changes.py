"""The readable change log: what a report changed on a host, from a section before and after it.

Pure (JSON data in, :class:`Change` out); ingest (collector.ingest) computes it once per
report that changed a section's stable content and stores the rows (``host_changes``), so
that reading a host's changes is a cheap query. Volatile fields (collector.sections) are left
out before comparing: a new free-space figure is no change.

A list the section declares a key for (collector.sections.ListKey: a package by its name, a
volume by its mount point) is compared item by item: an item only in the new list was
``added``, only in the old one ``removed``, and an item in both whose fields differ
``changed``, field by field (a package's version). Other lists are compared as wholes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from collector.sections import DECLARATIONS, FieldPath, ListKey, stable

MAX_TEXT = 1024
MAX_ITEM = 512
MAX_FIELD = 128


@dataclass(frozen=True)
class Change:
    section: str
    action: str  # added | removed | changed
    item: str | None  # the list item it concerns (package name, mount, display), if any
    field: str | None  # the field that changed ("version", "screen_lock.timeout_s")
    old: str | None
    new: str | None

    def row(self) -> dict[str, Any]:
        return {"section": self.section, "action": self.action, "item": self.item,
                "field": self.field, "old": self.old, "new": self.new}  # fmt: skip


def section_changes(
    section: str,
    old: Any,
    new: Any,
    known: Mapping[FieldPath, tuple[list[Any], list[Any]]] | None = None,
) -> list[Change]:
    """What changed in ``section`` from ``old`` to ``new`` (JSON data, volatile fields
    included or not: they are left out here). ``known``: differing_items of a keyed list
    whose items have no volatile field, where the caller computed them already (ingest,
    for a normalized section's rows: 300 packages compared once, not twice)."""
    where = _Where(section, DECLARATIONS[section].keys, None, known or {})
    return list(_diff(where, (), stable(section, old), stable(section, new)))


@dataclass(frozen=True)
class _Where:
    section: str
    keys: Mapping[FieldPath, ListKey]  # the section's list keys (none inside a list item)
    item: str | None  # the list item being compared, if any
    known: Mapping[FieldPath, tuple[list[Any], list[Any]]]  # see section_changes


def _diff(where: _Where, path: FieldPath, old: Any, new: Any) -> Iterator[Change]:
    section, keys, item = where.section, where.keys, where.item
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in {**old, **new}:
            yield from _diff(where, (*path, key), old.get(key), new.get(key))
        return
    if isinstance(old, list) and isinstance(new, list) and path in keys:
        yield from _diff_keyed(where, path, old, new)
        return
    if isinstance(old, list) and isinstance(new, list) and _scalars(old) and _scalars(new):
        field = _field(path)
        for value in _minus(new, old):
            yield Change(section, "added", item, field, None, _text(value))
        for value in _minus(old, new):
            yield Change(section, "removed", item, field, _text(value), None)
        return
    yield Change(section, "changed", item, _field(path), _text(old), _text(new))


def _diff_keyed(where: _Where, path: FieldPath, old: list[Any], new: list[Any]) -> Iterator[Change]:
    section, key = where.section, where.keys[path]
    # The items both lists have are no change.
    old, new = where.known[path] if path in where.known else differing_items(old, new)
    before = _by_key(old, key)
    after = _by_key(new, key)
    field = _field(path)
    for name, items in after.items():
        if name not in before:
            for value in items:
                yield Change(section, "added", name, field, None, _shown(value, key))
    for name, items in before.items():
        if name not in after:
            for value in items:
                yield Change(section, "removed", name, field, _shown(value, key), None)
    for name, items in after.items():
        previous = before.get(name)
        if previous is None or previous == items:
            continue
        if len(previous) == 1 and len(items) == 1:
            # One item under this key on both sides: say which of its fields changed.
            yield from _diff(_Where(section, {}, name, {}), (), previous[0], items[0])
            continue
        # Several items share the key (two versions of one package): as wholes.
        for value in _minus(items, previous):
            yield Change(section, "added", name, field, None, _shown(value, key))
        for value in _minus(previous, items):
            yield Change(section, "removed", name, field, _shown(value, key), None)


def differing_items(old: list[Any], new: list[Any]) -> tuple[list[Any], list[Any]]:
    """The items of ``old`` that ``new`` lacks and those of ``new`` that ``old`` lacks (as
    often as they are missing), in their order: of 300 packages, mostly none or one."""
    old_keys = [_item_key(item) for item in old]
    count: dict[Any, int] = {}
    for key in old_keys:
        count[key] = count.get(key, 0) + 1
    only_new = []
    for item in new:
        key = _item_key(item)
        if count.get(key, 0) > 0:
            count[key] -= 1
        else:
            only_new.append(item)
    if len(only_new) == len(new) - len(old):  # every old item is still there
        return [], only_new
    only_old = []
    for item, key in zip(reversed(old), reversed(old_keys), strict=True):
        if count.get(key, 0) > 0:
            count[key] -= 1
            only_old.append(item)
    only_old.reverse()
    return only_old, only_new


def _item_key(item: Any) -> Any:
    """A list item as a dictionary key: a flat object as its values (the schema's dump
    gives every item of a list the same keys in the same order), else its JSON."""
    if isinstance(item, dict):
        values = tuple(item.values())
        try:
            hash(values)  # in C: fails on a list or object inside
        except TypeError:
            pass
        else:
            return values
    return _canonical(item)


def _by_key(items: list[Any], key: ListKey) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    single = key.fields[0] if len(key.fields) == 1 else None
    for value in items:
        if isinstance(value, dict):
            if single is not None:  # the common case (a package by its name), made quick
                part = value.get(single)
                name = part if isinstance(part, str) else "?" if part is None else str(part)
            else:
                parts = [value.get(f) for f in key.fields]
                name = " ".join(str(p) for p in parts if p is not None) or "?"
        else:
            name = _text(value) or "?"
        out.setdefault(name if len(name) <= MAX_ITEM else name[:MAX_ITEM], []).append(value)
    return out


def _shown(value: Any, key: ListKey) -> str | None:
    if not isinstance(value, dict):
        return _text(value)
    if key.shown is not None:
        return _text(value.get(key.shown))
    rest = {k: v for k, v in value.items() if k not in key.fields and v is not None}
    return _text(rest) if rest else None


def _minus(a: list[Any], b: list[Any]) -> list[Any]:
    """The items of ``a`` that ``b`` does not have (as many times as they are missing)."""
    left = [_canonical(v) for v in b]
    out = []
    for value in a:
        text = _canonical(value)
        if text in left:
            left.remove(text)
        else:
            out.append(value)
    return out


def _scalars(values: list[Any]) -> bool:
    return all(not isinstance(v, dict | list) for v in values)


def _field(path: FieldPath) -> str | None:
    return ".".join(path)[:MAX_FIELD] if path else None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any) -> str | None:
    """A value as the change log shows it: strings as they are, the rest as JSON."""
    if value is None:
        return None
    text = value if isinstance(value, str) else _canonical(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
