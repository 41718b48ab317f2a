"""``netsh advfirewall show currentprofile``: the state of the profile(s) in force.

Headers and the state label are localized (``Domain Profile Settings:`` /
``Domänenprofil-Einstellungen:``, ``State ON`` / ``Status EIN``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(r"^(?P<name>\S.*?(?:Profile|profil|Profil)\S*.*?):\s*$")
_STATE = re.compile(r"^(?:State|Status)\s+(?P<value>\S+)\s*$")
_ON = {"on", "ein"}
_OFF = {"off", "aus"}


@dataclass(frozen=True)
class FirewallProfile:
    name: str
    enabled: bool | None


def parse_profiles(text: str) -> list[FirewallProfile]:
    profiles: list[FirewallProfile] = []
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        header = _HEADER.match(line)
        if header:
            current = header["name"]
            continue
        state = _STATE.match(line)
        if state and current is not None:
            value = state["value"].casefold()
            enabled = True if value in _ON else False if value in _OFF else None
            profiles.append(FirewallProfile(current, enabled))
            current = None
    return profiles
