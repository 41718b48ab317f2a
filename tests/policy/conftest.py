from __future__ import annotations

import pytest

from collector.policy import PolicySet
from tests.policy.helpers import POLICIES_DIR


@pytest.fixture(scope="session")
def policies() -> PolicySet:
    return PolicySet.load(POLICIES_DIR)
