"""Ubuntu Pro's status file (``/var/lib/ubuntu-advantage/status.json``, written by the Pro
client, ``pro status --format json`` has the same structure): attached, and each service's
status. ESM is on when the machine is attached and esm-infra or esm-apps is enabled."""

from __future__ import annotations

import json
from typing import Any

STATUS_FILE = "/var/lib/ubuntu-advantage/status.json"
ESM_SERVICES = ("esm-infra", "esm-apps")


class ProStatusError(ValueError):
    """The file is not the Pro client's status (no ``attached`` flag)."""


def esm_enabled(text: str) -> bool:
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise ProStatusError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("attached"), bool):
        raise ProStatusError("no boolean 'attached'")
    if not data["attached"]:
        return False
    services = data.get("services")
    if not isinstance(services, list):
        raise ProStatusError("attached, but no list of services")
    return any(
        isinstance(s, dict) and s.get("name") in ESM_SERVICES and s.get("status") == "enabled"
        for s in services
    )
