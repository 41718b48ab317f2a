"""One-line answers of macOS security tools: ``fdesetup status`` (FileVault) and
``socketfilterfw --getglobalstate`` (application firewall)."""

from __future__ import annotations

import re


def parse_fdesetup(text: str) -> bool | None:
    """ "FileVault is On." / "FileVault is Off." (also "... Encryption in progress: ...")."""
    match = re.search(r"FileVault is (On|Off)\b", text)
    return None if match is None else match.group(1) == "On"


def parse_socketfilterfw(text: str) -> bool | None:
    """ "Firewall is enabled. (State = 1)", "Firewall is disabled. (State = 0)"; State 2
    (block all incoming) is enabled too."""
    match = re.search(r"State\s*=\s*(\d)", text)
    if match:
        return match.group(1) != "0"
    match = re.search(r"Firewall is (enabled|disabled)", text)
    return None if match is None else match.group(1) == "enabled"
