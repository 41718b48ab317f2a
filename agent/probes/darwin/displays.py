"""Displays on macOS from ``system_profiler -json SPDisplaysDataType``.

Apple reports each display's name, EDID vendor and product, the panel's native resolution,
the pixels in use and the "looks like" resolution (the two differ by the Retina scale), but
no physical size: width, height and diagonal stay unknown, said once in the errors.
Sidecar and AirPlay targets (``spdisplays_virtualdevice``) are other devices, not monitors of
this machine, and are left out.
"""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers import system_profiler as sp
from agent.probes.darwin.system import TIMEOUT_S, profiler_argv
from agent.schema import Display


def collect(ctx: ProbeContext) -> list[Display] | None:
    text = ctx.output(profiler_argv("SPDisplaysDataType"), timeout=TIMEOUT_S)
    if text is None:
        return None
    try:
        parsed = sp.parse_displays(text)
    except sp.ProfilerError as exc:
        ctx.error(f"SPDisplaysDataType: {exc}")
        return None
    displays = []
    for d in parsed:
        if d.virtual:
            continue
        scale = None
        if d.pixels and d.looks_like and d.looks_like[0]:
            scale = round(d.pixels[0] / d.looks_like[0], 2)
        displays.append(
            Display(
                connector=d.connection,
                internal=d.internal,
                vendor_pnp=d.vendor_pnp,
                model=d.name,
                native_width_px=d.native[0] if d.native else None,
                native_height_px=d.native[1] if d.native else None,
                current_width_px=d.pixels[0] if d.pixels else None,
                current_height_px=d.pixels[1] if d.pixels else None,
                refresh_hz=d.refresh_hz,
                scale=scale if scale is not None and 0 < scale <= 10 else None,
                year=d.year if d.year is not None and 1990 <= d.year <= 2255 else None,
                product_code=d.product_code,
            )
        )
    if displays:
        ctx.error("SPDisplaysDataType reports no physical size: width, height, diagonal unknown")
    return displays
