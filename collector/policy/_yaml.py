"""YAML loading without a hard dependency on type stubs for PyYAML."""

from __future__ import annotations

import importlib
from typing import Any

_yaml: Any = importlib.import_module("yaml")
_Loader: Any = getattr(_yaml, "CSafeLoader", None) or _yaml.SafeLoader
YAMLError: type[Exception] = _yaml.YAMLError


def load(text: str) -> Any:
    return _yaml.load(text, Loader=_Loader)
