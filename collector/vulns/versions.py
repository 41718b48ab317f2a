"""dpkg's version order (python-debian implements dpkg's own algorithm: epochs, "~" before
everything, letters before non-letters), parsed once per distinct string."""

from __future__ import annotations

from functools import lru_cache

from debian.debian_support import Version


@lru_cache(maxsize=200_000)
def dpkg_version(text: str) -> Version | None:
    """The parsed version; None for a string dpkg would refuse."""
    try:
        return Version(text)
    except ValueError:
        return None


def dpkg_less(installed: str, fixed: str) -> bool | None:
    """installed < fixed in dpkg's order; None when either is no valid version."""
    a, b = dpkg_version(installed), dpkg_version(fixed)
    if a is None or b is None:
        return None
    return bool(a < b)
