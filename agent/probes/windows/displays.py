"""Displays on Windows.

First the EDIDs Windows keeps in the registry, decoded by the same parser as on Linux
(agent.parsers.edid): ``HKLM\\SYSTEM\\CurrentControlSet\\Enum\\DISPLAY\\<model>\\<instance>\\
Device Parameters\\EDID``. Windows keeps the instance of every monitor ever attached; only an
instance with a ``Control`` subkey (volatile, present while the device is attached) is
reported. When the registry gives no monitor, WMI (``root\\wmi``), as Windows read each
monitor's EDID:

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
from agent.parsers.edid import MAX_EDID_BYTES, EdidError, parse_edid
from agent.parsers.regfile import REG_BINARY
from agent.parsers.regvalues import raw
from agent.parsers.wmi_monitor import parse_basic_display_params, parse_friendly_names
from agent.probes.displays import from_edid
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
ENUM_DISPLAY = "HKLM\\SYSTEM\\CurrentControlSet\\Enum\\DISPLAY"
MAX_MONITORS = 64


def collect(ctx: ProbeContext) -> list[Display] | None:
    displays = _registry(ctx)
    if displays:
        return displays
    return _wmi(ctx)


def _registry(ctx: ProbeContext) -> list[Display] | None:
    models = ctx.reg_subkeys(ENUM_DISPLAY)
    if models is None:
        return None
    displays = []
    for model in models[:MAX_MONITORS]:
        for instance in (ctx.reg_subkeys(f"{ENUM_DISPLAY}\\{model}") or [])[:MAX_MONITORS]:
            key = f"{ENUM_DISPLAY}\\{model}\\{instance}"
            if "control" not in {k.casefold() for k in ctx.reg_subkeys(key) or []}:
                continue  # not attached now
            display = _edid_display(ctx, key, f"{model}\\{instance}")
            if display is not None:
                displays.append(display)
    return displays


def _edid_display(ctx: ProbeContext, key: str, name: str) -> Display | None:
    value = raw(ctx.reg_values(f"{key}\\Device Parameters"), "EDID")
    if value is None or value.type != REG_BINARY or not isinstance(value.data, bytes):
        ctx.error(f"{name}: attached, but the registry has no EDID for it")
        return None
    try:
        edid = parse_edid(value.data[: MAX_EDID_BYTES + 1])
    except EdidError as exc:
        ctx.error(f"{name}: invalid EDID: {exc}")
        return None
    if not edid.checksum_ok:
        ctx.error(f"{name}: EDID checksum mismatch; values decoded anyway")
    return from_edid(edid, name[:256], None)


def _wmi(ctx: ProbeContext) -> list[Display] | None:
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
