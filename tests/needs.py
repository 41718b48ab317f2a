"""Tests that need a real tool or server: skipped on a developer's machine without it,
failed under CI (``CI=true``), where .ci/run installs and starts everything."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)
