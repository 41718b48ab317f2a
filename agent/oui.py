"""The vendor of a MAC address, from the IEEE OUI registry that ships with ``netaddr``.

No download at run time: netaddr carries the registry (``netaddr/eui/oui.txt``) in its wheel.
A locally administered address (the second bit of the first octet: random MACs of phones,
virtual interfaces) belongs to no vendor.
"""

from __future__ import annotations

from functools import lru_cache


def is_locally_administered(mac: str) -> bool:
    first = int(mac.replace("-", ":").split(":")[0], 16)
    return bool(first & 0x02)


@lru_cache(maxsize=4096)
def vendor(mac: str) -> str | None:
    """The registered organization of the MAC's OUI, or None (unknown, random, invalid)."""
    try:
        import netaddr  # type: ignore[import-untyped]  # noqa: PLC0415  (its registry index is read on first use)
    except ImportError:
        return None
    try:
        if is_locally_administered(mac):
            return None
        org = netaddr.EUI(mac).oui.registration().org
    except (ValueError, IndexError, netaddr.AddrFormatError, netaddr.NotRegisteredError):
        return None
    return str(org).strip() or None
