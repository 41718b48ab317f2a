"""The budget's lifecycle: policies/data/lifecycle.yaml (collector.policy.reference.Lifecycle,
the one model of it), optionally with a user's file over it, and what-if cycles.

``--lifecycle FILE`` may give only some categories, and of a category only some values; the
others keep the shipped values:

    categories:
      laptop:  {replacement_years: 5}          # replace_after_years is accepted as well
      monitor: {unit_price_eur: 280}
    chassis: {desktop: desktop, laptop: laptop, tablet: tablet}   # optional, replaces the map

Cycles are whole years 1..30, prices 0..100,000 EUR.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from collector.policy import _yaml
from collector.policy.reference import (
    CATEGORIES,
    MAX_YEARS,
    Lifecycle,
    ReferenceDataError,
    load_reference_data,
)
from collector.settings import Settings

MAX_FILE_BYTES = 64 * 1024
__all__ = ["CATEGORIES", "Lifecycle", "LifecycleError", "load_lifecycle", "parse_overrides"]


class LifecycleError(Exception):
    """A lifecycle file or override that cannot be used; the message names file and key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def shipped_lifecycle(policies_dir: Path | None = None) -> Lifecycle:
    """The lifecycle of the policy packs' reference data."""
    directory = policies_dir or Settings().policies_dir
    try:
        return load_reference_data(directory).lifecycle
    except ReferenceDataError as exc:
        raise LifecycleError(str(exc)) from None


def load_lifecycle(path: Path | None = None, policies_dir: Path | None = None) -> Lifecycle:
    """The shipped lifecycle, with the file ``path`` (if given) over it."""
    shipped = shipped_lifecycle(policies_dir)
    if path is None:
        return shipped
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise LifecycleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise LifecycleError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        raw = _yaml.load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise LifecycleError(f"{path}: not UTF-8 text") from None
    except _yaml.YAMLError as exc:
        raise LifecycleError(f"{path}: invalid YAML: {exc}") from None
    return over(shipped, raw, str(path))


def over(shipped: Lifecycle, raw: Any, source: str) -> Lifecycle:
    """``raw`` (a lifecycle file's data, possibly partial) over the shipped lifecycle."""
    if not isinstance(raw, dict):
        raise LifecycleError(f"{source}: expected a mapping with `categories`")
    unknown = set(raw) - {"categories", "chassis"}
    if unknown:
        raise LifecycleError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    given = raw.get("categories") or {}
    if not isinstance(given, dict):
        raise LifecycleError(f"{source}: `categories` must be a mapping of category names")
    categories: dict[str, Any] = {
        name: {"replacement_years": c.replacement_years, "unit_price_eur": c.unit_price_eur}
        for name, c in shipped.categories.items()
    }
    for name, values in given.items():
        if values is not None and not isinstance(values, dict):
            raise LifecycleError(f"{source}: categories.{name}: expected a mapping")
        merged = dict(categories.get(name, {}))
        given_values = dict(values or {})
        if "replace_after_years" in given_values and "replacement_years" in given_values:
            raise LifecycleError(
                f"{source}: categories.{name}: give replacement_years or replace_after_years, "
                "not both"
            )
        if "replace_after_years" in given_values:
            given_values["replacement_years"] = given_values.pop("replace_after_years")
        merged.update(given_values)
        categories[str(name)] = merged
    data = {"categories": categories, "chassis": raw.get("chassis") or shipped.chassis,
            "source": source}  # fmt: skip
    try:
        return Lifecycle.model_validate(data)
    except ValidationError as exc:
        raise LifecycleError(f"{source}: {_errors(exc)}") from None


def _errors(exc: ValidationError) -> str:
    out = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        out.append(f"{where}: {message}")
    return "; ".join(out)


def check_years(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LifecycleError(f"{where}: replacement years must be a whole number, not {value!r}")
    if not 1 <= value <= MAX_YEARS:
        raise LifecycleError(f"{where}: replacement years must be 1..{MAX_YEARS}, not {value}")
    return value


def parse_overrides(items: Iterable[str]) -> dict[str, int]:
    """``["desktop=6", "laptop=5"]`` -> ``{"desktop": 6, "laptop": 5}`` (what-if cycles)."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        where = f"--replace-after {item!r}"
        if not sep:
            raise LifecycleError(f"{where}: expected CATEGORY=YEARS, e.g. desktop=6")
        if name not in CATEGORIES:
            raise LifecycleError(f"{where}: unknown category (known: {', '.join(CATEGORIES)})")
        if name in out:
            raise LifecycleError(f"{where}: {name} given twice")
        try:
            years = int(value.strip())
        except ValueError:
            raise LifecycleError(f"{where}: {value!r} is not a whole number of years") from None
        out[name] = check_years(years, where)
    return out
