"""The report history as received (``reports.raw``): the only reader of stored raw reports
besides ingest. The current state is collector.current_state's; readers use that."""

from __future__ import annotations

import json
from typing import Any


def history_report(raw: str) -> dict[str, Any] | None:
    """A stored report of the history as JSON data (None if it cannot be read)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
