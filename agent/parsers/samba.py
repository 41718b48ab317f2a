"""Does the Samba server accept SMB1? From ``testparm`` output or smb.conf text.

SMB1 is offered when ``server min protocol`` is NT1 or older (LANMAN1, LANMAN2, CORE,
COREPLUS). Since Samba 4.11 the default is SMB2_02, so SMB1 is off unless configured;
before 4.11 the default was LANMAN1, i.e. SMB1 on. ``client min protocol`` governs what
Samba's *client* tools accept when talking to other servers and says nothing about this
host serving SMB1, so it is ignored.
"""

from __future__ import annotations

import re

_SMB1_PROTOCOLS = frozenset({"NT1", "LANMAN1", "LANMAN2", "CORE", "COREPLUS"})
# Synonyms smb.conf(5) lists for the parameters we read.
_SYNONYMS = {
    "min protocol": "server min protocol",
    "protocol": "server max protocol",
    "max protocol": "server max protocol",
}
SMB2_DEFAULT_SINCE = (4, 11)


def protocol_is_smb1(value: str) -> bool:
    """A protocol name from smb.conf (case-insensitive) -> is it SMB1 or older?"""
    return value.strip().upper() in _SMB1_PROTOCOLS


def parse_smb_conf_globals(text: str) -> dict[str, str]:
    """``[global]`` parameters (also those before any section), keys normalised to
    lowercase with single spaces, synonyms mapped to their canonical names.

    Works on smb.conf and on ``testparm -s`` output (which is smb.conf syntax). Include
    files and line continuations (a trailing backslash) are handled only as far as the
    continuation; ``include =`` is not followed.
    """
    params: dict[str, str] = {}
    section: str | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[] ").lower()
            continue
        if section not in (None, "global") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = " ".join(key.lower().split())
        key = _SYNONYMS.get(key, key)
        params[key] = value.strip()  # a later occurrence overrides, as in Samba
    return params


def parse_samba_version(text: str) -> tuple[int, int] | None:
    """``smbd --version`` ("Version 4.17.12-Debian") -> (4, 17)."""
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def smb1_from_globals(params: dict[str, str], version: tuple[int, int] | None) -> bool | None:
    """SMB1 offered by the server, from its global parameters and the Samba version.

    None when ``server min protocol`` is unset (or "default") and the version is unknown,
    because the default changed in 4.11.
    """
    value = params.get("server min protocol", "").strip()
    max_value = params.get("server max protocol", "").strip()
    if max_value and protocol_is_smb1(max_value):
        return True  # capped at SMB1: SMB1 is all it speaks
    if value and value.lower() != "default":
        return protocol_is_smb1(value)
    if version is None:
        return None
    return version < SMB2_DEFAULT_SINCE
