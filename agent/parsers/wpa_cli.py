"""``wpa_cli -i <if> status``: wpa_supplicant's view of the current association.

The output is ``key=value`` lines. wpa_cli can also print its own chatter ("Selected
interface 'wlan0'") before them when no ``-i`` is given; such lines have no ``=`` and are
skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.parsers import wlan_security
from agent.parsers.wlan_security import Security


@dataclass(frozen=True)
class Status:
    wpa_state: str | None
    ssid: str | None
    bssid: str | None
    frequency_mhz: int | None
    key_mgmt: str | None
    pairwise_cipher: str | None
    group_cipher: str | None

    @property
    def connected(self) -> bool | None:
        if self.wpa_state is None:
            return None
        return self.wpa_state == "COMPLETED"

    @property
    def security(self) -> Security | None:
        if self.key_mgmt is None:
            return None
        return wlan_security.from_wpa_supplicant(
            self.key_mgmt, self.pairwise_cipher, self.group_cipher
        )


def parse_status(text: str) -> Status | None:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and key.strip() not in values:
            values[key.strip()] = value
    if not values:
        return None
    freq = values.get("freq", "").strip()
    return Status(
        wpa_state=values.get("wpa_state", "").strip() or None,
        # The SSID is printed raw; only the line break ends it, spaces are part of it.
        ssid=values.get("ssid") or None,
        bssid=values.get("bssid", "").strip().lower() or None,
        frequency_mhz=int(freq) if freq.isdigit() else None,
        key_mgmt=values.get("key_mgmt", "").strip() or None,
        pairwise_cipher=values.get("pairwise_cipher", "").strip() or None,
        group_cipher=values.get("group_cipher", "").strip() or None,
    )
