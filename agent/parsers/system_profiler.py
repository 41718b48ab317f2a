"""``system_profiler -json <DataType>`` (macOS): hardware, software, power, Wi-Fi.

The JSON keys are Apple's internal names (``machine_model``, ``spairport_...``); values
meant for people carry units ("16 GB") and are parsed here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


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
