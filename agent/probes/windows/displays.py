"""Displays on Windows from WMI (``root\\wmi``), as Windows read each monitor's EDID:

- ``WmiMonitorBasicDisplayParams``: per monitor the PnP instance (EDID vendor and product
  code), whether it is active, the image size in whole centimetres (hence width, height and a
  diagonal to ±0.5 in) and analog or digital input;
- ``WmiMonitorID.UserFriendlyName``: the model name. Printed per character code, the names of
  several monitors follow each other without their instance, so a name is only given when
  exactly one monitor is active and exactly one name was printed.

Resolutions and refresh rates are not read (no real capture of a per-monitor source).
"""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers.wmi_monitor import parse_basic_display_params, parse_friendly_names
from agent.probes.windows import powershell
from agent.schema import Display

PARAMS = powershell(
    "Get-CimInstance -Namespace root\\wmi -ClassName WmiMonitorBasicDisplayParams"
    " | Select-Object -Property *"
)
NAMES = powershell(
    "Get-WmiObject -Namespace root\\wmi -Class WmiMonitorID"
    " | ForEach-Object { $_.UserFriendlyName }"
)
TIMEOUT_S = 30.0


def collect(ctx: ProbeContext) -> list[Display] | None:
    text = ctx.output(PARAMS, timeout=TIMEOUT_S)
    if text is None:
        return None
    monitors = [m for m in parse_basic_display_params(text) if m.active is not False]
    if not monitors and text.strip():
        ctx.error("WmiMonitorBasicDisplayParams: no monitor in the output")
    displays = [
        Display(
            vendor_pnp=m.vendor_pnp,
            product_code=m.product_code,
            width_cm=m.width_cm,
            height_cm=m.height_cm,
            diagonal_in=m.diagonal_in,
            analog=None if m.video_input is None else m.video_input == 0,
        )
        for m in monitors
    ]
    for m in monitors:
        if m.width_cm is None:
            ctx.error(f"{m.instance}: the monitor reports no physical size")
    if displays:
        _name(ctx, displays)
    return displays


def _name(ctx: ProbeContext, displays: list[Display]) -> None:
    out = ctx.output(NAMES, timeout=TIMEOUT_S)
    if out is None:
        return
    names = parse_friendly_names(out)
    if names is None:
        ctx.error("WmiMonitorID.UserFriendlyName: unrecognised output")
    elif len(displays) == 1 and len(names) == 1:
        displays[0].model = names[0][:256]
    elif names:
        ctx.error(
            f"WmiMonitorID: {len(names)} names for {len(displays)} monitors cannot be matched;"
            " model unknown"
        )
