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
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from collector.policy import _yaml

DATA_DIR = "data"
DATA_FILES = ("os_support", "lifecycle", "hardware", "ergonomics", "references")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A Windows release with `group: client` has one end date for every client edition (before
# Windows 10): it matches every client group, never the server group.
CLIENT_GROUP = "client"
SERVER_GROUP = "server"


class WindowsRelease(_Strict):
    product: str
    release: str
    build: int
    group: str
    end: dt.date
    source: str = Field(min_length=1)
    estimated: bool = False


class NamedRelease(_Strict):
    """A Linux or macOS release of a product `line` (releases of one line share `names`)."""

    line: str = Field(min_length=1)
    names: list[str] = Field(min_length=1)
    version: str
    match: Literal["exact", "major", "minor"] = "exact"
    # Orders the release within its line instead of `version` (openSUSE Leap 42.x came
    # before 15.0).
    sort: str | None = None
    label: str
    end: dt.date
    source: str = Field(min_length=1)
    estimated: bool = False

    @field_validator("version", "sort")
    @classmethod
    def _numeric(cls, value: str | None) -> str | None:
        if value is not None and version_tuple(value) is None:
            raise ValueError(f"{value!r} is not a version of numbers (e.g. 24.04)")
        return value

    @property
    def order(self) -> tuple[int, ...]:
        """The release's place in its line (numbers of `sort`, else of `version`)."""
        key = version_tuple(self.sort or self.version)
        assert key is not None  # validated
        return key

    def key_of(self, version: str) -> str:
        """What of a reported os.version this entry compares with its `version`."""
        if self.match == "exact":
            return version
        parts = version.split(".")
        return ".".join(parts[: 1 if self.match == "major" else 2])

    def matches(self, name: str, version: str) -> bool:
        """Whether an os.name (lower case) and os.version name this release."""
        return any(n in name for n in self.names) and self.key_of(version) == self.version


_VERSION = re.compile(r"^\d+(?:\.\d+)*")


def version_tuple(text: str) -> tuple[int, ...] | None:
    """The leading numbers of a version ("24.04" -> (24, 4), "10.15.7" -> (10, 15, 7)); None
    when it does not start with a number ("trixie/sid")."""
    found = _VERSION.match(text.strip())
    return tuple(int(p) for p in found.group(0).split(".")) if found else None


class OsSupport(_Strict):
    # The day the data was last checked against its sources (`policy check` warns when old).
    updated: dt.date
    windows_edition_groups: dict[str, list[str]]
    windows: list[WindowsRelease]
    linux: list[NamedRelease]
    darwin: list[NamedRelease]
    # Where the file is, as messages name it ("policies/data/os_support.yaml"); set at load.
    file: str = "data/os_support.yaml"
    # The lines sorted once: every host's derived facts ask for them (20,000 hosts re-sorted
    # them 40,000 times: 80 % of derive's time).
    _lines: dict[tuple[str, str], Any] = PrivateAttr(default_factory=dict)

    @field_validator("windows_edition_groups")
    @classmethod
    def _groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if CLIENT_GROUP in value:
            raise ValueError(f"{CLIENT_GROUP!r} is not an edition group (it means all clients)")
        if SERVER_GROUP not in value:
            raise ValueError(f"the {SERVER_GROUP!r} edition group is missing")
        return value

    @model_validator(mode="after")
    def _unambiguous(self) -> OsSupport:
        groups = set(self.windows_edition_groups) | {CLIENT_GROUP}
        seen: dict[tuple[str, int], WindowsRelease] = {}
        for entry in self.windows:
            if entry.group not in groups:
                raise ValueError(
                    f"windows: {entry.product} {entry.release}: unknown group "
                    f"{entry.group!r} (known: {', '.join(sorted(groups))})"
                )
            key = (entry.group, entry.build)
            if key in seen:
                raise ValueError(
                    f"windows: build {entry.build} is listed twice for group {entry.group}"
                )
            seen[key] = entry
        client_builds = {e.build for e in self.windows if e.group == CLIENT_GROUP}
        for entry in self.windows:
            if entry.group not in (CLIENT_GROUP, SERVER_GROUP) and entry.build in client_builds:
                raise ValueError(
                    f"windows: build {entry.build} is listed for every client "
                    f"(group client) and again for {entry.group}"
                )
        for family in ("linux", "darwin"):
            _check_lines(family, getattr(self, family))
        return self

    def windows_line(self, group: str) -> list[WindowsRelease]:
        """The releases a host of edition ``group`` is placed among, oldest first: the
        group's own, and for a client group the `client` ones."""
        key = ("windows", group)
        if key not in self._lines:
            wanted = {group} if group in (SERVER_GROUP, CLIENT_GROUP) else {group, CLIENT_GROUP}
            self._lines[key] = sorted(
                (e for e in self.windows if e.group in wanted), key=lambda e: e.build
            )
        lines: list[WindowsRelease] = self._lines[key]
        return lines

    def named_lines(self, family: str) -> dict[str, list[NamedRelease]]:
        """The product lines of ``family`` (linux, darwin) in file order, each oldest first."""
        key = ("named", family)
        if key not in self._lines:
            entries: list[NamedRelease] = getattr(self, family, [])
            lines: dict[str, list[NamedRelease]] = {}
            for entry in entries:
                lines.setdefault(entry.line, []).append(entry)
            self._lines[key] = {
                name: sorted(items, key=lambda e: e.order) for name, items in lines.items()
            }
        found: dict[str, list[NamedRelease]] = self._lines[key]
        return found


def _check_lines(family: str, entries: list[NamedRelease]) -> None:
    """Releases of one line share their names; a reported version names at most one of them
    and their order is strict, so that matching and ordering are never ambiguous."""
    lines: dict[str, list[NamedRelease]] = {}
    for entry in entries:
        lines.setdefault(entry.line, []).append(entry)
    owner: dict[str, str] = {}
    for line, items in lines.items():
        names = items[0].names
        for entry in items:
            if entry.names != names:
                raise ValueError(
                    f"{family}: {entry.label}: names {entry.names} differ from "
                    f"the other {line} releases' {names}"
                )
            for other in items:
                if other is not entry and other.matches(names[0], entry.version):
                    raise ValueError(
                        f"{family}: version {entry.version} matches both "
                        f"{entry.label} and {other.label}"
                    )
        orders = [e.order for e in items]
        if len(set(orders)) != len(orders):
            raise ValueError(f"{family}: two {line} releases have the same order")
        for name in names:
            if name in owner and owner[name] != line:
                raise ValueError(f"{family}: name {name!r} is used by {owner[name]} and {line}")
            owner[name] = line


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
    # Results of pure functions of this data and a small input (collector.policy.derive),
    # kept with the data they came from: a fleet has a handful of OS releases and CPU
    # models, not one per host.
    _memo: dict[str, dict[Any, Any]] = PrivateAttr(default_factory=dict)

    def memos(self) -> dict[str, dict[Any, Any]]:
        """Every memo by name. Read from pydantic's private-attribute store directly:
        ``self._memo`` goes through ``BaseModel.__getattr__``, a measurable share of a
        host's derived facts."""
        private = self.__pydantic_private__
        assert private is not None
        memos: dict[str, dict[Any, Any]] = private["_memo"]
        return memos


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
        except (_yaml.YAMLError, ValueError) as exc:
            # PyYAML raises ValueError for a date that does not exist (2026-13-06).
            raise ReferenceDataError(file, f"invalid YAML: {exc}") from exc
        try:
            parts[name] = models[name].model_validate(raw)
        except ValidationError as exc:
            raise ReferenceDataError(file, _short(exc)) from exc
        part = parts[name]
        if isinstance(part, Lifecycle):
            parts[name] = part.model_copy(update={"source": str(file)})
        if isinstance(part, OsSupport):
            shown = f"{directory.name}/{DATA_DIR}/{file.name}"
            parts[name] = part.model_copy(update={"file": shown})
    refs = parts.pop("references")
    assert isinstance(refs, References)
    return ReferenceData.model_validate({**parts, "references": refs.references})


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
    )
