"""Reference data beside the packs (policies/data/*.yaml), validated with pydantic."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class DeviceCategory(_Strict):
    replacement_years: int = Field(gt=0, le=30)
    unit_price_eur: float = Field(ge=0)


class Lifecycle(_Strict):
    categories: dict[str, DeviceCategory]
    chassis: dict[str, str]


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
    refs = parts.pop("references")
    assert isinstance(refs, References)
    return ReferenceData.model_validate({**parts, "references": refs.references})


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
    )
