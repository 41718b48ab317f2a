"""``ConvertTo-Json`` output of a list of PowerShell objects.

Windows PowerShell prints a list of one object as that object (no array) and an empty list
as nothing at all; both are read here as lists.
"""

from __future__ import annotations

import json
from typing import Any


def parse_objects(text: str) -> list[dict[str, Any]] | None:
    """The objects; None when the text is not JSON of objects (cut, garbled, other output)."""
    if not text.strip():
        return []
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        return None
    return data
