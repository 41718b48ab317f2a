"""Typed access to registry values as a probe reads them (``name -> RegValue``): a value of
another type than expected is treated as absent, never coerced."""

from __future__ import annotations

from collections.abc import Mapping

from agent.parsers.regfile import REG_DWORD, REG_EXPAND_SZ, REG_QWORD, REG_SZ, RegValue

Values = Mapping[str, RegValue]


def _get(values: Values | None, name: str) -> RegValue | None:
    if not values:
        return None
    found = values.get(name)
    if found is not None:
        return found
    folded = name.casefold()  # registry value names are case-insensitive
    return next((v for k, v in values.items() if k.casefold() == folded), None)


def dword(values: Values | None, name: str) -> int | None:
    value = _get(values, name)
    if value is None or value.type not in (REG_DWORD, REG_QWORD):
        return None
    return value.data if isinstance(value.data, int) else None


def text(values: Values | None, name: str) -> str | None:
    """A string value, stripped; None when absent, empty or not a string."""
    value = _get(values, name)
    if value is None or value.type not in (REG_SZ, REG_EXPAND_SZ):
        return None
    return value.data.strip() or None if isinstance(value.data, str) else None


def has(values: Values | None, name: str) -> bool:
    return _get(values, name) is not None


def raw(values: Values | None, name: str) -> RegValue | None:
    return _get(values, name)
