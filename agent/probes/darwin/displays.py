"""Displays on macOS: ``system_profiler -json SPDisplaysDataType`` joined with ``ioreg``.

system_profiler reports each display's name, EDID vendor and product, the panel's native
resolution, the pixels in use and the "looks like" resolution (the two differ by the Retina
scale), but no physical size. The size comes from the I/O Registry (agent.parsers.ioreg):
on Apple silicon the display pipes' ``DisplayAttributes`` (``ioreg -c AppleCLCD2``), on Intel
Macs the raw EDID of the ``AppleDisplay`` entries. The built-in panel of an Apple silicon Mac
has no size there; it stays unknown, said in the errors.

Sidecar and AirPlay targets (``spdisplays_virtualdevice``) are other devices, not monitors of
this machine, and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.context import ProbeContext
from agent.parsers import ioreg
from agent.parsers import system_profiler as sp
from agent.probes.darwin.system import TIMEOUT_S, profiler_argv
from agent.schema import Display

# Apple silicon: one AppleCLCD2 entry per display pipe, built-in panel and external ones.
IOREG_APPLE_SILICON = ["ioreg", "-c", "AppleCLCD2", "-r", "-lw0", "-d", "1"]
# Intel: IOGraphics' AppleDisplay entries; AppleBacklightDisplay (the built-in panel) derives
# from AppleDisplay, so the one class lists both.
IOREG_INTEL = ["ioreg", "-c", "AppleDisplay", "-r", "-lw0", "-d", "1"]
IOREG_TIMEOUT_S = 20.0


def collect(ctx: ProbeContext) -> list[Display] | None:
    profiled = _profiler(ctx)
    registry = _registry(ctx)
    if profiled is None and not registry:
        return None
    displays, problems = join(profiled or [], registry)
    for problem in problems:
        ctx.error(problem)
    return displays


def _profiler(ctx: ProbeContext) -> list[sp.DisplayInfo] | None:
    text = ctx.output(profiler_argv("SPDisplaysDataType"), timeout=TIMEOUT_S)
    if text is None:
        return None
    try:
        parsed = sp.parse_displays(text)
    except sp.ProfilerError as exc:
        ctx.error(f"SPDisplaysDataType: {exc}")
        return None
    return [d for d in parsed if not d.virtual]


def _registry(ctx: ProbeContext) -> list[ioreg.IoregDisplay]:
    result = None
    text = ctx.output(IOREG_APPLE_SILICON, timeout=IOREG_TIMEOUT_S)
    if text is not None:
        result = ioreg.parse_displays(text)
    if result is None or not result.nodes:
        # No AppleCLCD2 at all: an Intel Mac (or the command failed).
        text = ctx.output(IOREG_INTEL, timeout=IOREG_TIMEOUT_S)
        if text is None:
            return []
        result = ioreg.parse_displays(text)
    for problem in result.problems:
        ctx.error(f"ioreg: {problem}")
    return result.displays


@dataclass
class _Pending:
    info: sp.DisplayInfo
    match: ioreg.IoregDisplay | None = None


def _same_display(info: sp.DisplayInfo, reg: ioreg.IoregDisplay) -> bool:
    """Whether a system_profiler display and a registry entry describe the same monitor.

    Both outputs come from the same EDID: the manufacturer and product code identify the
    model, and the EDID serial number (where both give it) the unit, so a size measured on one
    monitor is never given to another. Apple silicon reports no EDID product code for the
    built-in panel; a Mac has one built-in panel, so the two built-in entries are that panel,
    unless their pixel sizes differ (then the outputs are not from the same Mac).
    """
    if _ids(info) and _ids(reg):
        if (info.vendor_pnp, info.product_code) != (reg.vendor_pnp, reg.product_code):
            return False
        return not (
            info.serial_number and reg.serial_number and info.serial_number != reg.serial_number
        )
    if info.internal and reg.internal:
        native = (reg.native_width_px, reg.native_height_px)
        pixels = native if None not in native else reg.pixels
        return info.native is None or pixels is None or info.native == pixels
    return False


def join(
    profiled: list[sp.DisplayInfo], registry: list[ioreg.IoregDisplay]
) -> tuple[list[Display], list[str]]:
    """The displays of both sources, each monitor once; and what stays unknown, and why."""
    pending = [_Pending(info) for info in profiled]
    unused = list(registry)
    for entry in pending:
        for reg in unused:
            if _same_display(entry.info, reg):
                entry.match = reg
                unused.remove(reg)
                break

    problems: list[str] = []
    displays = [_profiled_display(entry, problems) for entry in pending]

    # Monitors the registry lists but system_profiler does not (or another Mac's, in an
    # assembled bundle): reported from the registry alone, with the facts it has. Not when
    # one of system_profiler's unmatched external displays could be the same monitor because
    # one side has no EDID ids to compare: one monitor must not be listed twice.
    unmatched = [e.info for e in pending if not e.info.internal and e.match is None]
    has_internal = any(e.info.internal for e in pending)
    for reg in unused:
        name = reg.name or reg.label
        doubtful = [i for i in unmatched if not _ids(i)] or (unmatched if not _ids(reg) else [])
        if reg.internal and has_internal:
            problems.append(
                f"ioreg: built-in panel {_px(reg)} is not the one system_profiler lists: not used"
            )
        elif doubtful and not reg.internal:
            problems.append(
                f"ioreg: {name} not added: it may be {doubtful[0].name or 'a display'} of "
                "system_profiler, which cannot be compared without EDID ids"
            )
        else:
            displays.append(_registry_display(reg, problems))
    return displays, problems


def _ids(display: sp.DisplayInfo | ioreg.IoregDisplay) -> bool:
    return bool(display.vendor_pnp and display.product_code is not None)


def _px(reg: ioreg.IoregDisplay) -> str:
    size = reg.pixels or (reg.native_width_px, reg.native_height_px)
    return f"({size[0]}x{size[1]})" if None not in size else "(size unknown)"


def _profiled_display(entry: _Pending, problems: list[str]) -> Display:
    d, reg = entry.info, entry.match
    scale = None
    if d.pixels and d.looks_like and d.looks_like[0]:
        scale = round(d.pixels[0] / d.looks_like[0], 2)
    display = Display(
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
    name = d.name or "display"
    if reg is None:
        which = "matching built-in panel" if d.internal else "display with its EDID ids"
        problems.append(
            f"{name}: system_profiler reports no physical size and ioreg lists no {which}: "
            "width, height, diagonal unknown"
        )
        return display
    display.width_cm, display.height_cm = reg.width_cm, reg.height_cm
    display.diagonal_in = reg.diagonal_in
    display.serial = reg.serial
    display.analog = reg.analog
    if display.year is None:
        display.year, display.year_is_model_year = reg.year, reg.year_is_model_year
    if reg.width_cm is None:
        problems.append(
            f"{name}: ioreg ({reg.label}) gives no physical size for it either: "
            "width, height, diagonal unknown"
        )
    return display


def _registry_display(reg: ioreg.IoregDisplay, problems: list[str]) -> Display:
    if reg.width_cm is None:
        name = reg.name or reg.label
        problems.append(f"{name}: ioreg gives no physical size: width, height, diagonal unknown")
    model = reg.name
    if model is None and reg.product_code is not None:
        model = f"0x{reg.product_code:04X}"
    return Display(
        connector=reg.connector,
        internal=reg.internal,
        vendor_pnp=reg.vendor_pnp,
        model=model,
        serial=reg.serial,
        width_cm=reg.width_cm,
        height_cm=reg.height_cm,
        diagonal_in=reg.diagonal_in,
        native_width_px=reg.native_width_px,
        native_height_px=reg.native_height_px,
        year=reg.year,
        year_is_model_year=reg.year_is_model_year,
        product_code=reg.product_code,
        analog=reg.analog,
    )
