"""Monitors from WMI's ``root\\wmi`` namespace.

``WmiMonitorBasicDisplayParams`` (list view) gives, per monitor, its PnP instance name
(``DISPLAY\\DELD054\\5&617c5fb&0&UID4353_0``: the EDID vendor ``DEL`` and product code
``0xD054``), whether it is active, the image size in whole centimetres and the input type
(0 analog, 1 digital): the EDID basic block as Windows read it.

``WmiMonitorID.UserFriendlyName`` printed with ``ForEach-Object`` is one UInt16 character code
per line, the name padded with zeros (``68 69 76 76 32 83 …`` = ``DELL S…``). With several
monitors the codes follow each other without their instance names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from agent.parsers.powershell_list import parse_list

_INSTANCE = re.compile(r"^DISPLAY\\(?P<pnp>[A-Z@]{3})(?P<code>[0-9A-Fa-f]{4})(?:\\|$)")


@dataclass(frozen=True)
class MonitorParams:
    instance: str
    active: bool | None
    width_cm: int | None
    height_cm: int | None
    video_input: int | None

    @property
    def vendor_pnp(self) -> str | None:
        match = _INSTANCE.match(self.instance)
        return match["pnp"] if match else None

    @property
    def product_code(self) -> int | None:
        match = _INSTANCE.match(self.instance)
        return int(match["code"], 16) if match else None

    @property
    def diagonal_in(self) -> float | None:
        """From the whole-centimetre size, so ±0.5 in: 48 × 27 cm gives 21.7 for a 21.5" panel."""
        if not self.width_cm or not self.height_cm:
            return None
        return round(math.hypot(self.width_cm, self.height_cm) / 2.54, 1)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _bool(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get((value or "").strip().casefold())


def parse_basic_display_params(text: str) -> list[MonitorParams]:
    """Every record with an InstanceName; sizes of 0 (projectors, TVs) become None."""
    monitors = []
    for record in parse_list(text):
        instance = record.get("InstanceName")
        if not instance:
            continue
        width = _int(record.get("MaxHorizontalImageSize"))
        height = _int(record.get("MaxVerticalImageSize"))
        monitors.append(
            MonitorParams(
                instance=instance,
                active=_bool(record.get("Active")),
                width_cm=width or None,
                height_cm=height or None,
                video_input=_int(record.get("VideoInputType")),
            )
        )
    return monitors


def parse_friendly_names(text: str) -> list[str] | None:
    """The names spelled by the codes, split at zeros; None if a line is not a code."""
    names: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        value = line.strip()
        if not value:
            continue
        if not value.isdigit() or int(value) > 0xFFFF:
            return None
        code = int(value)
        if code == 0:
            if current:
                names.append("".join(current).strip())
            current = []
        elif chr(code).isprintable():
            current.append(chr(code))
    if current:
        names.append("".join(current).strip())
    return [n for n in names if n]
