"""/etc/os-release (systemd's os-release(5)): shell-style KEY=value lines."""

from __future__ import annotations

import shlex


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value, posix=True)
        except ValueError:  # unbalanced quotes: keep the raw value rather than drop the key
            parts = [value.strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values
