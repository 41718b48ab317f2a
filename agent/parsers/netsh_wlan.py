"""``netsh wlan show interfaces`` / ``show profiles`` / ``show profile name=X``, German and
English. netsh prints ``Label : value`` lines whose labels follow the display language of
Windows; the values of the security fields (``WPA2-Personal``, ``CCMP``) are not translated,
other values are (``Verbunden``/``connected``, ``Offen``/``Open``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^\s*(?P<label>[^:]+?)\s*:\s?(?P<value>.*?)\s*$")

# Lower-cased label -> canonical key. Both languages (and the variants seen in real output).
_IFACE_LABELS = {
    "name": "name",
    "description": "description",
    "beschreibung": "description",
    "state": "state",
    "status": "state",
    "ssid": "ssid",
    "bssid": "bssid",
    "ap bssid": "bssid",
    "band": "band",
    "bereich": "band",
    "radio type": "radio",
    "funktyp": "radio",
    "authentication": "auth",
    "authentifizierung": "auth",
    "cipher": "cipher",
    "verschlüsselung": "cipher",
    "verschlüsselungsverfahren": "cipher",
    "channel": "channel",
    "kanal": "channel",
    "receive rate (mbps)": "rx",
    "empfangsrate (mbit/s)": "rx",
    "transmit rate (mbps)": "tx",
    "übertragungsrate (mbit/s)": "tx",
    "signal": "signal",
    "profile": "profile",
    "profil": "profile",
}
_CONNECTED = {"connected", "verbunden"}
_DISCONNECTED = {"disconnected", "getrennt", "nicht verbunden"}


@dataclass(frozen=True)
class NetshInterface:
    name: str
    connected: bool | None
    ssid: str | None
    bssid: str | None
    authentication: str | None
    cipher: str | None
    channel: int | None
    band_ghz: float | None
    signal_percent: int | None
    receive_mbps: float | None
    transmit_mbps: float | None
    profile: str | None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    match = re.match(r"^\s*(\d+)", value)
    return int(match.group(1)) if match else None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    match = re.match(r"^\s*(\d+(?:[.,]\d+)?)", value)
    return float(match.group(1).replace(",", ".")) if match else None


def parse_interfaces(text: str) -> list[NetshInterface]:
    """Every interface block (it starts with ``Name``); unknown labels are ignored."""
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        key = _IFACE_LABELS.get(match["label"].strip().casefold())
        if key is None:
            continue
        if key == "name":
            blocks.append({})
        if blocks:
            blocks[-1].setdefault(key, match["value"])
    result = []
    for b in blocks:
        state = (b.get("state") or "").casefold()
        connected = True if state in _CONNECTED else False if state in _DISCONNECTED else None
        signal = b.get("signal")
        result.append(
            NetshInterface(
                name=b["name"],
                connected=connected,
                ssid=b.get("ssid") or None,
                bssid=(b.get("bssid") or "").lower() or None,
                authentication=b.get("auth") or None,
                cipher=b.get("cipher") or None,
                channel=_int(b.get("channel")),
                band_ghz=_float(b.get("band")),
                signal_percent=_int(signal) if signal and signal.strip().endswith("%") else None,
                receive_mbps=_float(b.get("rx")),
                transmit_mbps=_float(b.get("tx")),
                profile=b.get("profile") or None,
            )
        )
    return result


# "All User Profile : X", "Profil für alle Benutzer : X", "Current User Profile : X".
_PROFILE_LABELS = {
    "all user profile",
    "current user profile",
    "profil für alle benutzer",
    "aktuelles benutzerprofil",
    "benutzerprofil",
}


def parse_profiles(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and match["label"].strip().casefold() in _PROFILE_LABELS and match["value"]:
            names.append(match["value"])
    return names


@dataclass(frozen=True)
class NetshProfile:
    name: str | None
    ssid: str | None
    authentication: str | None
    cipher: str | None
    autoconnect: bool | None


_PROFILE_DETAIL = {
    "name": "name",
    "ssid name": "ssid",
    "ssid-name": "ssid",
    "authentication": "auth",
    "authentifizierung": "auth",
    "cipher": "cipher",
    "verschlüsselung": "cipher",
    "connection mode": "mode",
    "verbindungsmodus": "mode",
}
_AUTO = {"connect automatically", "automatisch verbinden"}
_MANUAL = {"connect manually", "manuell verbinden"}


def parse_profile(text: str) -> NetshProfile | None:
    """One profile's details; None when the output holds no profile at all.

    A profile may list several security blocks (e.g. WPA2 and WPA3); the first is taken,
    and the caller maps it to the weakest accepted mode.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        key = _PROFILE_DETAIL.get(match["label"].strip().casefold())
        if key is not None:
            found.setdefault(key, match["value"])
    if not found.get("name") and not found.get("ssid"):
        return None
    mode = (found.get("mode") or "").casefold()
    return NetshProfile(
        name=found.get("name") or None,
        ssid=(found.get("ssid") or "").strip('"') or None,
        authentication=found.get("auth") or None,
        cipher=found.get("cipher") or None,
        autoconnect=True if mode in _AUTO else False if mode in _MANUAL else None,
    )


def percent_to_dbm(percent: int | None) -> int | None:
    """Windows' signal quality back to dBm, as WLAN_ASSOCIATION_ATTRIBUTES documents it:
    ``wlanSignalQuality`` 0 is -100 dBm, 100 is -50 dBm, linear in between:
    dBm = percent / 2 - 100 (an approximation, not a measurement)."""
    if percent is None:
        return None
    p = min(max(percent, 0), 100)
    return round(p / 2 - 100)


def channel_to_frequency(channel: int | None, band_ghz: float | None) -> int | None:
    """Centre frequency (MHz) of a channel; netsh prints the band only on newer Windows."""
    if channel is None:
        return None
    if band_ghz is None:
        return None
    if band_ghz < 3:
        return 2484 if channel == 14 else 2407 + 5 * channel
    if band_ghz < 5.9:
        return 5000 + 5 * channel
    return 5950 + 5 * channel
