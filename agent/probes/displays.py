"""Displays: every connected monitor, panel, TV or projector, from the kernel's DRM connectors.

On Linux the kernel exposes each video output as ``/sys/class/drm/card<N>-<TYPE>-<n>`` with
its hot-plug ``status`` and the raw ``edid`` the display sent. That works without X or
Wayland, as root or not, on a login screen as well as headless with a monitor attached.

The *current* resolution, refresh rate and scale are not in sysfs: the first line of
``modes`` is the display's preferred mode, not what the desktop uses, and reading the active
mode needs DRM ioctls or the user's display server. Those fields therefore stay ``None``
rather than reporting the preferred mode as if it were the current one.
"""

from __future__ import annotations

import re

from agent.context import ProbeContext
from agent.parsers.edid import MAX_EDID_BYTES, Edid, EdidError, parse_edid
from agent.schema import Display

DRM = "/sys/class/drm"
# card0-DP-1, card1-eDP-1, card0-HDMI-A-1, card0-DVI-D-1; not card0, renderD128 or version.
_CONNECTOR = re.compile(r"^card\d+-(?P<type>[A-Za-z]+(?:-[A-Za-z]+)?)-\d+$")
# Panels wired inside the device; everything else is a plugged-in display.
_INTERNAL_TYPES = frozenset({"eDP", "LVDS", "DSI"})


def collect_linux(ctx: ProbeContext) -> list[Display] | None:
    if not ctx.exists(DRM):
        ctx.error(f"no DRM connectors in {DRM}: directory missing (no KMS graphics driver?)")
        return None
    connectors = [name for name in ctx.listdir(DRM) if _CONNECTOR.match(name)]
    if not connectors:
        ctx.error(f"no DRM connectors in {DRM} (no KMS graphics driver, or not readable)")
        return None

    displays: list[Display] = []
    for name in connectors:
        # A connector whose status cannot be read is skipped, as a disconnected one: there
        # is no way to tell whether anything is plugged in.
        if ctx.attr(f"{DRM}/{name}/status") != "connected":
            continue
        displays.append(_display(ctx, name))

    if not displays:
        ctx.error(
            f"no DRM connectors in {DRM} with a connected display "
            f"({len(connectors)} connector(s), none connected)"
        )
        return None
    return displays


def _display(ctx: ProbeContext, connector: str) -> Display:
    match = _CONNECTOR.match(connector)
    connector_type = match["type"] if match else ""
    display = Display(connector=connector, internal=connector_type in _INTERNAL_TYPES)

    path = f"{DRM}/{connector}/edid"
    try:
        # One byte over the limit, so that an oversized file is refused by the parser instead
        # of being silently cut to a plausible-looking prefix.
        data = ctx.files.read_bytes(path, limit=MAX_EDID_BYTES + 1)
    except OSError as exc:
        ctx.error(f"{connector}: cannot read EDID: {exc.strerror or exc}")
        return display
    if not data:
        # Common with some docks, KVM switches and DSI panels: connected, but no EDID read.
        ctx.error(f"{connector}: connected, but the kernel has no EDID for it")
        return display
    try:
        edid = parse_edid(data)
    except EdidError as exc:
        ctx.error(f"{connector}: invalid EDID: {exc}")
        return display

    if not edid.checksum_ok:
        # Still usable (many real EDIDs have a wrong checksum), but worth knowing.
        ctx.error(f"{connector}: EDID checksum mismatch; values decoded anyway")
    return from_edid(edid, connector, display.internal)


def from_edid(edid: Edid, connector: str | None, internal: bool | None) -> Display:
    """The display an EDID describes (Linux reads it from sysfs, Windows from the registry)."""
    return Display(
        connector=connector,
        internal=internal,
        vendor_pnp=edid.vendor_pnp,
        # The monitor name when the EDID has one; laptop panels often have none, and their
        # product code is then what identifies the panel model.
        model=edid.name or f"0x{edid.product_code:04X}",
        product_code=edid.product_code,
        serial=edid.serial,
        width_cm=edid.width_cm,
        height_cm=edid.height_cm,
        diagonal_in=edid.diagonal_in,
        native_width_px=edid.native_width_px,
        native_height_px=edid.native_height_px,
        year=edid.year,
        year_is_model_year=edid.year_is_model_year,
        analog=edid.analog,
    )
