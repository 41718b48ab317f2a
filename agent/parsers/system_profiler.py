"""``system_profiler -json <DataType>`` (macOS): hardware, software, Wi-Fi, displays, the
installed applications (``-xml`` or ``-json``), and the battery (the text form).

The JSON keys are Apple's internal names (``machine_model``, ``spairport_...``); values
meant for people carry units ("16 GB") and are parsed here.
"""

from __future__ import annotations

import json
import plistlib
import re
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError


class ProfilerError(ValueError):
    """Not system_profiler JSON for the expected data type."""


def items(text: str, data_type: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProfilerError(f"not JSON: {exc}") from exc
    entries = data.get(data_type) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ProfilerError(f"no {data_type} in the output")
    return [e for e in entries if isinstance(e, dict)]


_UNITS = {"KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def size_bytes(text: str | None) -> int | None:
    match = re.match(r"^\s*(\d+(?:[.,]\d+)?)\s*(KB|MB|GB|TB)\s*$", text or "")
    if not match:
        return None
    return int(float(match.group(1).replace(",", ".")) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class Hardware:
    model_name: str | None
    model_identifier: str | None
    serial: str | None
    cpu: str | None
    memory_bytes: int | None


def parse_hardware(text: str) -> Hardware:
    entries = items(text, "SPHardwareDataType")
    if not entries:
        raise ProfilerError("SPHardwareDataType is empty")
    hw = entries[0]
    return Hardware(
        model_name=hw.get("machine_name"),
        model_identifier=hw.get("machine_model"),
        serial=hw.get("serial_number"),
        cpu=hw.get("chip_type") or hw.get("cpu_type"),
        memory_bytes=size_bytes(hw.get("physical_memory")),
    )


@dataclass(frozen=True)
class Software:
    name: str | None
    version: str | None
    build: str | None
    kernel: str | None


def parse_software(text: str) -> Software:
    entries = items(text, "SPSoftwareDataType")
    if not entries:
        raise ProfilerError("SPSoftwareDataType is empty")
    sw = entries[0]
    # "macOS 14.4.1 (23E224)"
    match = re.match(
        r"^(?P<name>.*?)\s+(?P<ver>\d+(?:\.\d+)*)\s*\((?P<build>[^)]+)\)",
        sw.get("os_version") or "",
    )
    kernel = sw.get("kernel_version")
    return Software(
        name=match["name"] if match else None,
        version=match["ver"] if match else None,
        build=match["build"] if match else None,
        kernel=kernel.split()[-1] if kernel else None,
    )


@dataclass(frozen=True)
class WifiNetwork:
    ssid: str | None
    security_mode: str | None
    channel: int | None
    band_ghz: float | None
    signal_dbm: int | None
    rate_mbps: float | None


@dataclass(frozen=True)
class WifiInterface:
    name: str
    connected: bool | None
    current: WifiNetwork | None
    others: list[WifiNetwork]


def _network(entry: dict[str, Any]) -> WifiNetwork:
    channel = re.match(
        r"^(\d+)(?:\s*\((\d+(?:\.\d+)?)GHz)?", str(entry.get("spairport_network_channel") or "")
    )
    signal = re.match(r"^(-?\d+)\s*dBm", str(entry.get("spairport_signal_noise") or ""))
    rate = entry.get("spairport_network_rate")
    return WifiNetwork(
        ssid=entry.get("_name"),
        security_mode=entry.get("spairport_security_mode"),
        channel=int(channel.group(1)) if channel else None,
        band_ghz=float(channel.group(2)) if channel and channel.group(2) else None,
        signal_dbm=int(signal.group(1)) if signal else None,
        rate_mbps=float(rate) if isinstance(rate, int | float) else None,
    )


def parse_airport(text: str) -> list[WifiInterface]:
    result = []
    for entry in items(text, "SPAirPortDataType"):
        for iface in entry.get("spairport_airport_interfaces") or []:
            if not isinstance(iface, dict) or "spairport_status_information" not in iface:
                continue  # awdl0 and other helper interfaces have no status
            status = iface.get("spairport_status_information")
            connected = status == "spairport_status_connected"
            current = iface.get("spairport_current_network_information")
            others = iface.get("spairport_airport_other_local_wireless_networks") or []
            result.append(
                WifiInterface(
                    name=str(iface.get("_name")),
                    connected=connected,
                    current=_network(current) if connected and isinstance(current, dict) else None,
                    others=[_network(o) for o in others if isinstance(o, dict)],
                )
            )
    return result


@dataclass(frozen=True)
class DisplayInfo:
    """One display of ``SPDisplaysDataType``. Apple reports no physical size there."""

    name: str | None
    connection: str | None
    internal: bool | None
    virtual: bool
    vendor_pnp: str | None
    product_code: int | None
    serial_number: int | None  # the EDID's numeric serial, as ioreg gives it too
    year: int | None
    native: tuple[int, int] | None
    pixels: tuple[int, int] | None
    looks_like: tuple[int, int] | None
    refresh_hz: float | None


# Named panel resolutions in ``spdisplays_pixelresolution``, as seen in real output; Apple
# writes numbers ("spdisplays_3456x2234Retina", "2732 x 2048") for other panels.
_NAMED_RESOLUTIONS = {"spdisplays_1080p": (1920, 1080), "spdisplays_uwqhd": (3440, 1440)}
_PAIR = re.compile(r"(\d+)\s*x\s*(\d+)")
_HZ = re.compile(r"@\s*(\d+(?:\.\d+)?)\s*Hz")


def _pair(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    if value in _NAMED_RESOLUTIONS:
        return _NAMED_RESOLUTIONS[value]
    match = _PAIR.search(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _pnp(vendor_id: object) -> str | None:
    """The EDID manufacturer word as hex ("10ac", "610") to its three letters (DEL, APP)."""
    try:
        word = int(str(vendor_id), 16)
    except ValueError:
        return None
    if not 0 < word <= 0x7FFF:
        return None  # Sidecar and AirPlay devices carry four ASCII bytes here, not EDID
    letters = [word >> shift & 0x1F for shift in (10, 5, 0)]
    if not all(1 <= x <= 26 for x in letters):
        return None
    return "".join(chr(64 + x) for x in letters)


def _int(value: object, base: int = 10) -> int | None:
    try:
        number = int(str(value), base)
    except ValueError:
        return None
    return number or None


def parse_displays(text: str) -> list[DisplayInfo]:
    result = []
    for gpu in items(text, "SPDisplaysDataType"):
        for d in gpu.get("spdisplays_ndrvs") or []:
            if not isinstance(d, dict):
                continue
            connection = d.get("spdisplays_connection_type")
            connection = connection.removeprefix("spdisplays_") if connection else None
            hz = _HZ.search(str(d.get("_spdisplays_resolution") or ""))
            result.append(
                DisplayInfo(
                    name=d.get("_name"),
                    connection=connection,
                    internal=connection == "internal" if connection else None,
                    virtual=d.get("spdisplays_virtualdevice") == "spdisplays_yes",
                    vendor_pnp=_pnp(d.get("_spdisplays_display-vendor-id")),
                    product_code=_int(d.get("_spdisplays_display-product-id"), 16),
                    serial_number=_int(d.get("_spdisplays_display-serial-number"), 16),
                    year=_int(d.get("_spdisplays_display-year")),
                    native=_pair(d.get("spdisplays_pixelresolution")),
                    pixels=_pair(d.get("_spdisplays_pixels")),
                    looks_like=_pair(d.get("_spdisplays_resolution")),
                    refresh_hz=float(hz.group(1)) if hz else None,
                )
            )
    return result


@dataclass(frozen=True)
class Application:
    name: str
    version: str | None
    obtained_from: str | None
    signed_by: str | None


def parse_applications(text: str) -> list[Application]:
    """``SPApplicationsDataType`` as ``-xml`` (a property list) or ``-json``."""
    if text.lstrip().startswith("<"):
        try:
            data = plistlib.loads(text.encode("utf-8"))
        except (plistlib.InvalidFileException, ValueError, ExpatError) as exc:
            raise ProfilerError(f"not a property list: {exc}") from exc
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise ProfilerError("no SPApplicationsDataType in the output")
        if data[0].get("_dataType") != "SPApplicationsDataType":
            raise ProfilerError("no SPApplicationsDataType in the output")
        raw = data[0].get("_items")
        entries = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
    else:
        entries = items(text, "SPApplicationsDataType")
    result = []
    for entry in entries:
        name = entry.get("_name")
        if not isinstance(name, str) or not name:
            continue
        signers = entry.get("signed_by")
        version = entry.get("version")
        result.append(
            Application(
                name=name,
                version=version if isinstance(version, str) else None,
                obtained_from=entry.get("obtained_from"),
                signed_by=signers[0] if isinstance(signers, list) and signers else None,
            )
        )
    return result


@dataclass(frozen=True)
class BatteryInfo:
    cycle_count: int | None
    condition: str | None  # "Normal", "Service Recommended", …
    maximum_capacity_pct: int | None  # of the design capacity; not printed by older macOS
    full_charge_mah: int | None


_POWER_LINES = {
    "cycle_count": re.compile(r"^\s+Cycle Count:\s*(\d+)\s*$"),
    "condition": re.compile(r"^\s+Condition:\s*(\S.*?)\s*$"),
    "maximum_capacity_pct": re.compile(r"^\s+Maximum Capacity:\s*(\d+)\s*%\s*$"),
    "full_charge_mah": re.compile(r"^\s+Full Charge Capacity \(mAh\):\s*(\d+)\s*$"),
}


def parse_power(text: str) -> BatteryInfo | None:
    """``system_profiler SPPowerDataType`` as text (the form real captures exist in); None
    for a Mac without a battery. The labels are English whatever the locale."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()  # cut off mid-line: "Cycle Count: 12" might have been 125
    if not lines or lines[0].strip() != "Power:":
        raise ProfilerError("not SPPowerDataType output")
    start = next(
        (i for i, line in enumerate(lines) if line.strip() == "Battery Information:"), None
    )
    if start is None:
        # A desktop lists its power settings and no battery; output without either is cut off.
        if any(line.strip() == "System Power Settings:" for line in lines):
            return None
        raise ProfilerError("SPPowerDataType output ends before its sections")
    found: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if line.startswith("    ") and not line.startswith("     "):
            break  # the next section ("    System Power Settings:")
        for key, pattern in _POWER_LINES.items():
            match = pattern.match(line)
            if match and key not in found:
                found[key] = match.group(1)
    number = {k: int(v) for k, v in found.items() if k != "condition"}
    return BatteryInfo(
        cycle_count=number.get("cycle_count"),
        condition=found.get("condition"),
        maximum_capacity_pct=number.get("maximum_capacity_pct"),
        full_charge_mah=number.get("full_charge_mah"),
    )
