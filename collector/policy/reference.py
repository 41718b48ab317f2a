"""Reference data beside the packs (policies/data/*.yaml), validated with pydantic."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from collector.policy import _yaml

DATA_DIR = "data"
DATA_FILES = ("os_support", "lifecycle", "hardware", "ergonomics", "references")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowsRelease(_Strict):
    product: str
    release: str
    build: int
    group: str
    end: dt.date
    source: str = Field(min_length=1)
    estimated: bool = False


class NamedRelease(_Strict):
    names: list[str] = Field(min_length=1)
    version: str
    match: Literal["exact", "major"] = "exact"
    label: str
    end: dt.date
    source: str = Field(min_length=1)
    estimated: bool = False


class OsSupport(_Strict):
    windows_edition_groups: dict[str, list[str]]
    windows: list[WindowsRelease]
    linux: list[NamedRelease]
    darwin: list[NamedRelease]


# The lifecycle's device categories: hosts by chassis, and their external monitors.
CATEGORIES = ("desktop", "laptop", "tablet", "monitor")
HOST_CATEGORIES = ("desktop", "laptop", "tablet")
DEFAULT_CHASSIS = {"desktop": "desktop", "laptop": "laptop", "tablet": "tablet"}
MAX_YEARS = 30
MAX_PRICE_EUR = 100_000


class DeviceCategory(_Strict):
    """A category's replacement cycle and planning price (``replace_after_years`` is
    accepted for ``replacement_years``)."""

    replacement_years: int = Field(
        validation_alias=AliasChoices("replacement_years", "replace_after_years")
    )
    unit_price_eur: float

    @field_validator("replacement_years", mode="before")
    @classmethod
    def _years(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"replacement years must be a whole number, not {value!r}")
        if not 1 <= value <= MAX_YEARS:
            raise ValueError(f"replacement years must be 1..{MAX_YEARS}, not {value}")
        return value

    @field_validator("unit_price_eur", mode="before")
    @classmethod
    def _price(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"unit_price_eur must be a number, not {value!r}")
        if not 0 <= value <= MAX_PRICE_EUR:
            raise ValueError(f"unit_price_eur must be 0..{MAX_PRICE_EUR}, not {value}")
        return value


class Lifecycle(_Strict):
    """policies/data/lifecycle.yaml: the one model of replacement cycles, read by the
    `life.device.age` check, the metrics and the budget (collector.budget.lifecycle loads a
    user's file over it)."""

    categories: dict[str, DeviceCategory]
    chassis: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CHASSIS))
    # Where the values come from (a file path), as the budget's parameters show it.
    source: str = ""

    @field_validator("categories")
    @classmethod
    def _all_categories(cls, value: dict[str, DeviceCategory]) -> dict[str, DeviceCategory]:
        unknown = sorted(set(value) - set(CATEGORIES))
        if unknown:
            raise ValueError(
                f"unknown category {', '.join(unknown)} (known: {', '.join(CATEGORIES)})"
            )
        missing = [c for c in CATEGORIES if c not in value]
        if missing:
            raise ValueError(f"category {', '.join(missing)} missing")
        return {c: value[c] for c in CATEGORIES}

    @field_validator("chassis")
    @classmethod
    def _chassis(cls, value: dict[str, str]) -> dict[str, str]:
        for key, category in value.items():
            if category not in HOST_CATEGORIES:
                raise ValueError(
                    f"chassis.{key}: {category!r} is not one of {', '.join(HOST_CATEGORIES)}"
                )
        return value

    def category_of(self, chassis: str | None) -> str | None:
        return self.chassis.get(chassis) if chassis else None

    def with_overrides(self, overrides: Mapping[str, int]) -> Lifecycle:
        """The what-if variant: other replacement cycles for some categories."""
        if not overrides:
            return self
        categories = dict(self.categories)
        for name, years in overrides.items():
            categories[name] = categories[name].model_copy(update={"replacement_years": years})
        return self.model_copy(update={"categories": categories})

    def as_dict(self) -> dict[str, Any]:
        """The cycles and prices as the budget's parameters show them."""
        return {
            name: {"replace_after_years": c.replacement_years, "unit_price_eur": c.unit_price_eur}
            for name, c in self.categories.items()
        }


class CpuRules(_Strict):
    supported: list[str]
    unsupported: list[str]

    @field_validator("supported", "unsupported")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            re.compile(pattern)
        return patterns


class Hardware(_Strict):
    win11_cpu: CpuRules


class TextSize(_Strict):
    reference_cap_height_px: float = Field(gt=0)
    viewing_distance_mm: float = Field(gt=0)


class Ergonomics(_Strict):
    text_size: TextSize


class References(_Strict):
    references: dict[str, str]


class ReferenceData(_Strict):
    os_support: OsSupport
    lifecycle: Lifecycle
    hardware: Hardware
    ergonomics: Ergonomics
    references: dict[str, str]


class ReferenceDataError(Exception):
    def __init__(self, file: Path, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message


def load_reference_data(directory: Path) -> ReferenceData:
    """Load ``directory/data/*.yaml``; raises ReferenceDataError naming the file."""
    parts: dict[str, object] = {}
    models: dict[str, type[BaseModel]] = {
        "os_support": OsSupport,
        "lifecycle": Lifecycle,
        "hardware": Hardware,
        "ergonomics": Ergonomics,
        "references": References,
    }
    for name in DATA_FILES:
        file = directory / DATA_DIR / f"{name}.yaml"
        try:
            raw = _yaml.load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ReferenceDataError(file, f"cannot read: {exc.strerror or exc}") from exc
        except _yaml.YAMLError as exc:
            raise ReferenceDataError(file, f"invalid YAML: {exc}") from exc
        try:
            parts[name] = models[name].model_validate(raw)
        except ValidationError as exc:
            raise ReferenceDataError(file, _short(exc)) from exc
        part = parts[name]
        if isinstance(part, Lifecycle):
            parts[name] = part.model_copy(update={"source": str(file)})
    refs = parts.pop("references")
    assert isinstance(refs, References)
    return ReferenceData.model_validate({**parts, "references": refs.references})


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
    )
