"""``iw`` output: ``iw dev``, ``iw dev <if> link`` and ``iw dev <if> scan dump``.

iw has no machine-readable mode and its indentation changed between versions (spaces in old
releases, tabs in new ones), so these parsers key on the words at the start of each line
and never on the amount of indentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.parsers import wlan_security
from agent.parsers.wlan_security import Security


@dataclass(frozen=True)
class IwInterface:
    name: str
    phy: str | None
    type: str | None
    addr: str | None
    ssid: str | None
    frequency_mhz: int | None


_PHY = re.compile(r"^phy#(\d+)")
_CHANNEL = re.compile(r"^channel\s+\d+\s+\((\d+)\s*MHz\)")


def parse_dev(text: str) -> list[IwInterface]:
    """``iw dev``: the wireless interfaces per phy, with type (managed, AP, monitor...)."""
    result: list[IwInterface] = []
    phy: str | None = None
    cur: dict[str, str] | None = None

    def flush() -> None:
        if cur is not None and cur.get("name"):
            freq = cur.get("freq")
            result.append(
                IwInterface(
                    name=cur["name"],
                    phy=cur.get("phy"),
                    type=cur.get("type"),
                    addr=cur.get("addr"),
                    ssid=cur.get("ssid"),
                    frequency_mhz=int(freq) if freq else None,
                )
            )

    for raw in text.splitlines():
        line = raw.strip()
        m = _PHY.match(line)
        if m:
            flush()
            cur = None
            phy = f"phy{m.group(1)}"
            continue
        if line.startswith("Interface "):
            flush()
            cur = {"name": line.split(None, 1)[1].strip()}
            if phy:
                cur["phy"] = phy
            continue
        if cur is None:
            continue
        key, _, value = line.partition(" ")
        if key in {"type", "addr", "ssid"}:
            cur[key] = value.strip()
        else:
            c = _CHANNEL.match(line)
            if c:
                cur["freq"] = c.group(1)
    flush()
    return result


@dataclass(frozen=True)
class Link:
    connected: bool
    bssid: str | None = None
    ssid: str | None = None
    frequency_mhz: int | None = None
    signal_dbm: int | None = None
    tx_rate_mbps: float | None = None


_CONNECTED = re.compile(r"^Connected to (\S+)")
_SIGNAL = re.compile(r"^signal:\s*(-?\d+(?:\.\d+)?)\s*dBm")
_BITRATE = re.compile(r"^tx bitrate:\s*(\d+(?:\.\d+)?)\s*MBit/s")
_FREQ = re.compile(r"^freq:\s*(\d+)")


def parse_link(text: str) -> Link | None:
    """``iw dev <if> link``; None when the text is neither a link nor "Not connected."."""
    lines = [raw.strip() for raw in text.splitlines()]
    if any(line.startswith("Not connected") for line in lines):
        return Link(connected=False)
    bssid = ssid = None
    freq = signal = None
    rate = None
    seen = False
    for line in lines:
        if m := _CONNECTED.match(line):
            bssid, seen = m.group(1), True
        elif line.startswith("SSID:"):
            ssid = line[len("SSID:") :].strip() or None
        elif m := _FREQ.match(line):
            # iw 6.x prints "freq: 5180.0"; the integer part is the MHz value.
            freq = int(m.group(1))
        elif m := _SIGNAL.match(line):
            signal = round(float(m.group(1)))
        elif m := _BITRATE.match(line):
            rate = float(m.group(1))
    if not seen:
        return None
    return Link(True, bssid, ssid, freq, signal, rate)


@dataclass
class Bss:
    bssid: str
    associated: bool = False
    ssid: str | None = None
    frequency_mhz: int | None = None
    signal_dbm: int | None = None
    privacy: bool | None = None
    rsn_akms: list[str] | None = None
    wpa_akms: list[str] | None = None
    ciphers: list[str] = field(default_factory=list)
    mfp_required: bool = False

    @property
    def channel(self) -> int | None:
        return wlan_security.freq_to_channel(self.frequency_mhz)

    @property
    def security(self) -> Security:
        return wlan_security.from_suites(
            privacy=self.privacy,
            rsn_akms=self.rsn_akms,
            wpa_akms=self.wpa_akms,
            ciphers=self.ciphers,
            mfp_required=self.mfp_required,
        )


_BSS = re.compile(r"^BSS ([0-9A-Fa-fx]{2}(?::[0-9A-Fa-fx]{2}){5})")
_CAPABILITY = re.compile(r"^capability:.*\((0x[0-9a-fA-F]+)\)")
_SSID_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_WLAN_CAPABILITY_PRIVACY = 0x0010


def _ssid(raw: str) -> str | None:
    # iw prints unprintable bytes as \xNN; a hidden network often beacons an SSID of NULs.
    text = _SSID_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw.strip())
    return None if not text.strip("\x00 ") else text


def parse_scan(text: str) -> list[Bss]:
    """``iw dev <if> scan dump``: one Bss per ``BSS`` block, with what security needs."""
    result: list[Bss] = []
    cur: Bss | None = None
    ie: dict[str, list[str]] | None = None  # the RSN or WPA IE being read
    for raw in text.splitlines():
        line = raw.strip()
        if m := _BSS.match(line):
            cur = Bss(bssid=m.group(1).lower(), associated="-- associated" in line)
            result.append(cur)
            ie = None
            continue
        if cur is None:
            continue
        # An IE's details are "* Key: value" lines; the first line without "*" ends it,
        # except for the IE header itself, which carries its first detail on the same line.
        if line.startswith("RSN:") or line.startswith("WPA:"):
            ie = {"akms": [], "ciphers": []}
            if line.startswith("RSN:"):
                cur.rsn_akms = ie["akms"]
            else:
                cur.wpa_akms = ie["akms"]
            line = line[4:].strip()
        elif not line.startswith("*"):
            ie = None
        if ie is not None:
            item = line.lstrip("* ").strip()
            key, _, value = item.partition(":")
            if key in {"Group cipher", "Pairwise ciphers"}:
                ciphers = value.split()
                ie["ciphers"].extend(ciphers)
                cur.ciphers.extend(ciphers)
            elif key == "Authentication suites":
                ie["akms"].extend(_split_suites(value))
            elif key == "Capabilities" and "MFP-required" in value:
                cur.mfp_required = True
            continue
        if line.startswith("SSID:"):
            cur.ssid = _ssid(line[len("SSID:") :])
        elif m := _FREQ.match(line):
            cur.frequency_mhz = int(m.group(1))
        elif m := _SIGNAL.match(line):
            cur.signal_dbm = round(float(m.group(1)))
        elif m := _CAPABILITY.match(line):
            # The hex value, not the words: some iw versions print only part of the flags.
            cur.privacy = bool(int(m.group(1), 16) & _WLAN_CAPABILITY_PRIVACY)
    return result


def _split_suites(value: str) -> list[str]:
    # Suites are space-separated, but "IEEE 802.1X" (and "IEEE 802.1X/SHA-256") contain a
    # space themselves.
    words = value.split()
    suites: list[str] = []
    i = 0
    while i < len(words):
        if words[i] == "IEEE" and i + 1 < len(words):
            suites.append(f"IEEE {words[i + 1]}")
            i += 2
        else:
            suites.append(words[i])
            i += 1
    return suites
