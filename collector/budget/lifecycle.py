"""The budget's lifecycle configuration: replacement cycle and unit price per category.

The default is the reference data of the policy packs, ``policies/data/lifecycle.yaml``
(also read by the `life.device.age` check); ``--lifecycle FILE`` replaces it with a file of
the same shape. ``replace_after_years`` is accepted as a synonym of ``replacement_years``.

    categories:
      desktop: {replacement_years: 5, unit_price_eur: 900}
      laptop:  {replacement_years: 4, unit_price_eur: 1200}
      tablet:  {replacement_years: 4, unit_price_eur: 600}
      monitor: {replacement_years: 7, unit_price_eur: 250}
    chassis: {desktop: desktop, laptop: laptop, tablet: tablet}   # optional

Every category must be present; cycles are whole years 1..30, prices 0..100,000 EUR.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from collector.policy import _yaml
from collector.policy.cli import default_policies_dir

CATEGORIES = ("desktop", "laptop", "tablet", "monitor")
HOST_CATEGORIES = ("desktop", "laptop", "tablet")
DEFAULT_CHASSIS = MappingProxyType({"desktop": "desktop", "laptop": "laptop", "tablet": "tablet"})
MAX_FILE_BYTES = 64 * 1024
MAX_YEARS = 30
MAX_PRICE_EUR = 100_000


class LifecycleError(Exception):
    """A lifecycle file or override that cannot be used; the message names file and key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Category:
    replace_after_years: int
    unit_price_eur: float


@dataclass(frozen=True)
class Lifecycle:
    categories: Mapping[str, Category]
    chassis: Mapping[str, str] = field(default_factory=lambda: DEFAULT_CHASSIS)
    source: str = ""

    def category_of(self, chassis: str | None) -> str | None:
        return self.chassis.get(chassis) if chassis else None

    def with_overrides(self, overrides: Mapping[str, int]) -> Lifecycle:
        """The what-if variant: other replacement cycles for some categories."""
        if not overrides:
            return self
        categories = dict(self.categories)
        for name, years in overrides.items():
            categories[name] = replace(categories[name], replace_after_years=years)
        return replace(self, categories=MappingProxyType(categories))

    def as_dict(self) -> dict[str, Any]:
        return {
            name: {"replace_after_years": c.replace_after_years, "unit_price_eur": c.unit_price_eur}
            for name, c in self.categories.items()
        }


def default_lifecycle_file() -> Path:
    return default_policies_dir() / "data" / "lifecycle.yaml"


def load_lifecycle(path: Path | None = None) -> Lifecycle:
    """Read and validate a lifecycle file (default: the shipped reference data)."""
    file = path or default_lifecycle_file()
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise LifecycleError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise LifecycleError(f"{file}: larger than {MAX_FILE_BYTES} bytes")
    try:
        raw = _yaml.load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise LifecycleError(f"{file}: not UTF-8 text") from None
    except _yaml.YAMLError as exc:
        raise LifecycleError(f"{file}: invalid YAML: {exc}") from None
    return parse_lifecycle(raw, str(file))


def parse_lifecycle(raw: Any, source: str = "lifecycle") -> Lifecycle:
    if not isinstance(raw, dict):
        raise LifecycleError(f"{source}: expected a mapping with `categories`")
    unknown = set(raw) - {"categories", "chassis"}
    if unknown:
        raise LifecycleError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    cats = raw.get("categories")
    if not isinstance(cats, dict):
        raise LifecycleError(f"{source}: `categories` must be a mapping of category names")
    extra = set(cats) - set(CATEGORIES)
    if extra:
        raise LifecycleError(
            f"{source}: unknown category {', '.join(sorted(map(str, extra)))}"
            f" (known: {', '.join(CATEGORIES)})"
        )
    missing = [c for c in CATEGORIES if c not in cats]
    if missing:
        raise LifecycleError(f"{source}: category {', '.join(missing)} missing")
    categories = {
        name: _category(cats[name], f"{source}: categories.{name}") for name in CATEGORIES
    }
    chassis: Mapping[str, str] = DEFAULT_CHASSIS
    if raw.get("chassis") is not None:
        chassis = _chassis(raw["chassis"], source)
    return Lifecycle(MappingProxyType(categories), chassis, source)


def _category(raw: Any, where: str) -> Category:
    if not isinstance(raw, dict):
        raise LifecycleError(f"{where}: expected replacement_years and unit_price_eur")
    keys = set(raw)
    unknown = keys - {"replacement_years", "replace_after_years", "unit_price_eur"}
    if unknown:
        raise LifecycleError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if {"replacement_years", "replace_after_years"} <= keys:
        raise LifecycleError(f"{where}: give replacement_years or replace_after_years, not both")
    years = raw.get("replacement_years", raw.get("replace_after_years"))
    price = raw.get("unit_price_eur")
    if years is None:
        raise LifecycleError(f"{where}: replacement_years missing")
    if price is None:
        raise LifecycleError(f"{where}: unit_price_eur missing")
    return Category(check_years(years, where), _price(price, where))


def check_years(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LifecycleError(f"{where}: replacement years must be a whole number, not {value!r}")
    if not 1 <= value <= MAX_YEARS:
        raise LifecycleError(f"{where}: replacement years must be 1..{MAX_YEARS}, not {value}")
    return value


def _price(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LifecycleError(f"{where}: unit_price_eur must be a number, not {value!r}")
    if not 0 <= value <= MAX_PRICE_EUR:
        raise LifecycleError(f"{where}: unit_price_eur must be 0..{MAX_PRICE_EUR}, not {value}")
    return float(value)


def _chassis(raw: Any, source: str) -> Mapping[str, str]:
    if not isinstance(raw, dict):
        raise LifecycleError(f"{source}: `chassis` must map host.chassis values to categories")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if value not in HOST_CATEGORIES:
            raise LifecycleError(
                f"{source}: chassis.{key}: {value!r} is not one of {', '.join(HOST_CATEGORIES)}"
            )
        out[str(key)] = str(value)
    return MappingProxyType(out)


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
