"""``Get-NetFirewallProfile`` (list view): one record per profile with ``Name`` and
``Enabled``. Property names and the values ``True``/``False`` are never translated, so this
reads a German Windows as well as an English one (unlike ``netsh advfirewall``)."""

from __future__ import annotations

from agent.parsers.netsh_advfirewall import FirewallProfile
from agent.parsers.powershell_list import parse_list


def parse_profiles(text: str) -> list[FirewallProfile]:
    profiles = []
    for record in parse_list(text):
        name = record.get("Name")
        if not name or "Enabled" not in record:
            continue
        state = record["Enabled"].casefold()
        enabled = True if state == "true" else False if state == "false" else None
        profiles.append(FirewallProfile(name, enabled))
    return profiles
