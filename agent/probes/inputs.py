"""Inputs: is an external keyboard and an external mouse (or trackball, tablet) attached?

Ergonomics rules for screen workplaces (ArbStättV Anhang 6) ask for a separate keyboard and
pointing device when a laptop is used as a workplace. The kernel lists every input device
in ``/proc/bus/input/devices`` with its bus: USB (0x03) and Bluetooth (0x05) devices are
plugged in or paired; a laptop's own keyboard and touchpad hang off the i8042 PS/2
controller (0x11), I2C (0x18) or the platform bus (0x19).

Some laptops wire their built-in keyboard or touchpad over an internal USB hub (Razer
Blade, many Chromebooks and MacBooks). Firmware marks such ports as not user-accessible,
which Linux shows as ``removable`` = ``fixed`` on the USB device in sysfs; those devices
count as internal. Keyboard-emulating security keys (Yubico) are not keyboards for this
purpose. A machine with no USB/Bluetooth HID at all (a VM, a server) is False/False: that
is what the kernel says, not an unknown.
"""

from __future__ import annotations

import re

from agent.context import ProbeContext
from agent.parsers.input_devices import BUS_BLUETOOTH, BUS_USB, InputDevice, parse_input_devices
from agent.schema import Inputs

DEVICES = "/proc/bus/input/devices"
# Security keys that type one-time passwords through a USB keyboard interface.
_KEYBOARD_EMULATING_TOKENS = frozenset({0x1050})  # Yubico
# A USB device directory in a sysfs path: "1-8", "3-2.4" (bus-port[.port...]).
_USB_DEVICE = re.compile(r"^\d+-\d+(?:\.\d+)*$")


def collect_linux(ctx: ProbeContext) -> Inputs | None:
    text = ctx.text(DEVICES, required=True)
    if text is None:
        return None
    devices = parse_input_devices(text)
    external = [d for d in devices if _is_external(ctx, d)]
    return Inputs(
        external_keyboard=any(
            d.is_keyboard and d.vendor not in _KEYBOARD_EMULATING_TOKENS for d in external
        ),
        external_pointing=any(d.is_pointing for d in external),
    )


def _is_external(ctx: ProbeContext, device: InputDevice) -> bool:
    if device.bus == BUS_BLUETOOTH:
        return True
    if device.bus != BUS_USB:
        return False
    return _usb_removable(ctx, device.sysfs) != "fixed"


def _usb_removable(ctx: ProbeContext, sysfs_path: str) -> str | None:
    """The ``removable`` attribute ("removable", "fixed", "unknown") of the USB device an
    input device belongs to, or None when it cannot be found (older kernels lack it)."""
    parts = sysfs_path.strip("/").split("/")
    # The deepest USB device (a device behind a hub is "3-2.4" below "3-2").
    for index in range(len(parts) - 1, -1, -1):
        if _USB_DEVICE.match(parts[index]):
            return ctx.attr("/sys/" + "/".join(parts[: index + 1]) + "/removable")
    return None
