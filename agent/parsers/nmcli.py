"""NetworkManager's ``nmcli --terse`` output.

Terse tabular output is one record per line, fields joined by ``:``; a ``:`` or ``\\`` inside
a value is escaped with a backslash (``C0\\:E2\\:...`` for a BSSID). Terse multiline output,
as ``nmcli -t -f <setting.property,...> connection show <id>`` prints it, is one
``name:value`` per line with the value left unescaped. The field lists the probe asks for
are fixed here so that parser and probe cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# `nmcli -t -f <WIFI_LIST_FIELDS> device wifi list --rescan no`: every field the probe uses,
# in the order NetworkManager's own client tests print them (so the fixture is real output).
WIFI_LIST_FIELDS = (
    "NAME",
    "SSID",
    "SSID-HEX",
    "BSSID",
    "MODE",
    "CHAN",
    "FREQ",
    "RATE",
    "SIGNAL",
    "BARS",
    "SECURITY",
    "WPA-FLAGS",
    "RSN-FLAGS",
    "DEVICE",
    "ACTIVE",
    "IN-USE",
    "DBUS-PATH",
)
# `nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device` (the default columns of `device status`).
DEVICE_FIELDS = ("DEVICE", "TYPE", "STATE", "CONNECTION")
# `nmcli -t -f UUID,TYPE connection show`: UUIDs, because names may repeat or look like options.
CONNECTION_FIELDS = ("UUID", "TYPE")
# `nmcli -t -f <PROFILE_PROPERTIES> connection show uuid <UUID>`.
PROFILE_PROPERTIES = (
    "connection.id",
    "connection.autoconnect",
    "802-11-wireless.ssid",
    "802-11-wireless-security.key-mgmt",
    "802-11-wireless-security.proto",
)


def split_terse(line: str) -> list[str]:
    """One terse line into its fields, undoing nmcli's backslash escapes."""
    fields: list[str] = []
    cur: list[str] = []
    escaped = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if escaped:
        cur.append("\\")
    fields.append("".join(cur))
    return fields


def parse_table(text: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """Terse tabular output as one dict per record, keyed by the requested field names.

    Blank lines separate devices in ``device wifi list``; they carry no record. A line with
    the wrong number of fields is dropped rather than guessed at.
    """
    rows: list[dict[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = split_terse(line)
        if len(values) != len(fields):
            continue
        rows.append(dict(zip(fields, values, strict=True)))
    return rows


def parse_properties(text: str) -> list[dict[str, str]]:
    """Terse multiline ``name:value`` output; a blank line starts the next connection."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        name, sep, value = line.partition(":")
        if sep:
            cur[name] = value
    if cur:
        blocks.append(cur)
    return blocks


@dataclass(frozen=True)
class AccessPoint:
    device: str | None
    active: bool | None
    ssid: str | None
    bssid: str | None
    mode: str | None
    channel: int | None
    frequency_mhz: int | None
    rate_mbps: float | None
    signal_percent: int | None
    security: str | None
    wpa_flags: str | None
    rsn_flags: str | None


@dataclass(frozen=True)
class Device:
    name: str
    type: str | None
    state: str | None
    connection: str | None


@dataclass(frozen=True)
class Connection:
    uuid: str
    type: str | None


_LEADING_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)")


def _number(text: str | None) -> float | None:
    # "2412 MHz", "54 Mbit/s" (and localized "54 Mb/s"): the unit is the tool's, the number ours.
    if not text:
        return None
    m = _LEADING_NUMBER.match(text)
    return float(m.group(1)) if m else None


def _int(text: str | None) -> int | None:
    n = _number(text)
    return int(n) if n is not None else None


def _str(text: str | None) -> str | None:
    # nmcli prints "--" (or nothing in terse mode) for a value it does not have.
    if text is None:
        return None
    text = text.strip()
    return None if text in {"", "--"} else text


def _yes_no(text: str | None) -> bool | None:
    # Only the C locale's words: the runner sets LC_ALL=C, and guessing "ja"/"tak" is not ours.
    if text is None:
        return None
    value = text.strip().lower()
    if value == "yes":
        return True
    if value == "no":
        return False
    return None


def parse_wifi_list(text: str, fields: tuple[str, ...] = WIFI_LIST_FIELDS) -> list[AccessPoint]:
    aps: list[AccessPoint] = []
    for row in parse_table(text, fields):
        aps.append(
            AccessPoint(
                device=_str(row.get("DEVICE")),
                active=_yes_no(row.get("ACTIVE")),
                ssid=_str(row.get("SSID")),
                bssid=_str(row.get("BSSID")),
                mode=_str(row.get("MODE")),
                channel=_int(row.get("CHAN")),
                frequency_mhz=_int(row.get("FREQ")),
                rate_mbps=_number(row.get("RATE")),
                signal_percent=_int(row.get("SIGNAL")),
                # SECURITY "" is meaningful (open), so it is not folded into None.
                security=row["SECURITY"].strip() if "SECURITY" in row else None,
                wpa_flags=_str(row.get("WPA-FLAGS")),
                rsn_flags=_str(row.get("RSN-FLAGS")),
            )
        )
    return aps


def parse_devices(text: str, fields: tuple[str, ...] = DEVICE_FIELDS) -> list[Device]:
    devices: list[Device] = []
    for row in parse_table(text, fields):
        name = _str(row.get("DEVICE"))
        if name is None:
            continue
        devices.append(
            Device(
                name=name,
                type=_str(row.get("TYPE")),
                state=_str(row.get("STATE")),
                connection=_str(row.get("CONNECTION")),
            )
        )
    return devices


def parse_connections(text: str, fields: tuple[str, ...] = CONNECTION_FIELDS) -> list[Connection]:
    conns: list[Connection] = []
    for row in parse_table(text, fields):
        uuid = _str(row.get("UUID"))
        if uuid is not None:
            conns.append(Connection(uuid=uuid, type=_str(row.get("TYPE"))))
    return conns


@dataclass(frozen=True)
class Profile:
    name: str | None
    ssid: str | None
    # None = the property was not printed; "" = printed empty.
    key_mgmt: str | None
    proto: str | None
    autoconnect: bool | None
    has_security_setting: bool


def parse_profile(text: str) -> Profile | None:
    """One wifi profile from ``connection show uuid <UUID>`` with PROFILE_PROPERTIES."""
    blocks = parse_properties(text)
    if not blocks:
        return None
    props = blocks[0]
    key_mgmt = props.get("802-11-wireless-security.key-mgmt")
    return Profile(
        name=_str(props.get("connection.id")),
        ssid=_str(props.get("802-11-wireless.ssid")),
        key_mgmt=key_mgmt.strip() if key_mgmt is not None else None,
        proto=_str(props.get("802-11-wireless-security.proto")),
        autoconnect=_yes_no(props.get("connection.autoconnect")),
        # nmcli leaves out the properties of a setting the profile does not have: no
        # 802-11-wireless-security lines means the profile is for an open network.
        has_security_setting=any(k.startswith("802-11-wireless-security.") for k in props),
    )


def is_connected_state(state: str | None) -> bool | None:
    """NetworkManager's device STATE word in the C locale."""
    if state is None:
        return None
    word = state.strip().lower()
    if word == "connected" or word.startswith("connected "):
        return True
    if word in {"disconnected", "unavailable", "deactivating", "disconnecting"}:
        return False
    if word.startswith("connecting"):
        return False
    return None
