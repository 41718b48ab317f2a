"""``/proc/bus/input/devices``: the kernel's list of input devices, one block per device.

A block looks like::

    I: Bus=0003 Vendor=046d Product=c52b Version=0111
    N: Name="Logitech USB Receiver"
    P: Phys=usb-0000:00:14.0-2/input0
    S: Sysfs=/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/0003:046D:C52B.0001/input/input5
    U: Uniq=
    H: Handlers=sysrq kbd leds event5
    B: EV=120013
    B: KEY=1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe

``B:`` lines are capability bitmaps in hex words of the kernel's ``long`` size, most
significant word first (linux/input-event-codes.h gives the bit numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Bus types from linux/input.h.
BUS_USB = 0x03
BUS_BLUETOOTH = 0x05
BUS_VIRTUAL = 0x06
BUS_I8042 = 0x11  # PS/2 controller: a laptop's built-in keyboard and touchpad
BUS_I2C = 0x18  # most modern laptop touchpads
BUS_HOST = 0x19  # ACPI/platform buttons (power, lid, video bus)
BUS_NAMES = {
    BUS_USB: "usb",
    BUS_BLUETOOTH: "bluetooth",
    BUS_VIRTUAL: "virtual",
    BUS_I8042: "i8042",
    BUS_I2C: "i2c",
    BUS_HOST: "host",
}

EV_KEY, EV_REL, EV_ABS, EV_REP = 0x01, 0x02, 0x03, 0x14
REL_X, REL_Y = 0x00, 0x01
ABS_X, ABS_Y = 0x00, 0x01
BTN_LEFT, BTN_TOOL_PEN, BTN_TOOL_FINGER, BTN_TOUCH = 0x110, 0x140, 0x145, 0x14A
# KEY_Q..KEY_P, KEY_A..KEY_L, KEY_Z..KEY_M: the letter rows. A real keyboard has all 26; a
# power button, a webcam's snapshot button or a mouse receiver's extra keys do not.
LETTER_KEYS = (*range(16, 26), *range(30, 39), *range(44, 51))


def parse_bitmap(text: str, word_bits: int = 64) -> int:
    """``"10000 c020000000000 0"`` -> one integer.

    Words are the kernel's ``long``, printed without zero padding, so their width cannot be
    seen in a short word (``KEY=4000 0 0`` is a 64-bit kernel's sleep button). 64 bits is
    right for every x86-64 and arm64 kernel; a 32-bit kernel's file needs ``word_bits=32``.
    """
    value = 0
    for word in text.split():
        try:
            value = (value << word_bits) | int(word, 16)
        except ValueError:
            return 0
    return value


def _bit(bitmap: int, bit: int) -> bool:
    return bool(bitmap >> bit & 1)


@dataclass(frozen=True)
class InputDevice:
    bus: int | None
    vendor: int | None
    product: int | None
    name: str
    phys: str
    sysfs: str
    handlers: tuple[str, ...]
    bitmaps: dict[str, int] = field(default_factory=dict)

    @property
    def bus_name(self) -> str:
        return BUS_NAMES.get(self.bus or -1, "other")

    @property
    def is_keyboard(self) -> bool:
        """Handled as a keyboard (``kbd``), repeats keys, and has the whole alphabet."""
        ev, keys = self.bitmaps.get("EV", 0), self.bitmaps.get("KEY", 0)
        return (
            "kbd" in self.handlers
            and _bit(ev, EV_KEY)
            and _bit(ev, EV_REP)
            and all(_bit(keys, k) for k in LETTER_KEYS)
        )

    @property
    def is_pointing(self) -> bool:
        """Mouse, trackball, touchpad, tablet or touchscreen.

        A ``mouseN`` handler is the kernel's own verdict (mousedev attaches to relative
        pointers, touchpads and tablets). Otherwise relative X/Y motion, or absolute X/Y
        with a button, touch or pen tool (an accelerometer has absolute axes but no
        buttons, and is not a pointer).
        """
        if any(h.startswith("mouse") for h in self.handlers):
            return True
        ev = self.bitmaps.get("EV", 0)
        rel, abs_, keys = (self.bitmaps.get(k, 0) for k in ("REL", "ABS", "KEY"))
        if _bit(ev, EV_REL) and _bit(rel, REL_X) and _bit(rel, REL_Y):
            return True
        buttons = (BTN_LEFT, BTN_TOUCH, BTN_TOOL_FINGER, BTN_TOOL_PEN)
        return (
            _bit(ev, EV_ABS)
            and _bit(abs_, ABS_X)
            and _bit(abs_, ABS_Y)
            and any(_bit(keys, b) for b in buttons)
        )


def _hex(value: str | None) -> int | None:
    try:
        return int(value, 16) if value else None
    except ValueError:
        return None


def _parse_block(lines: list[str], word_bits: int) -> InputDevice | None:
    ids: dict[str, str] = {}
    name = phys = sysfs = ""
    handlers: tuple[str, ...] = ()
    bitmaps: dict[str, int] = {}
    for line in lines:
        tag, _, rest = line.partition(": ")
        rest = rest.strip()
        if tag == "I":
            for part in rest.split():
                key, _, value = part.partition("=")
                ids[key] = value
        elif tag == "N":
            name = rest.removeprefix("Name=").strip('"')
        elif tag == "P":
            phys = rest.removeprefix("Phys=")
        elif tag == "S":
            sysfs = rest.removeprefix("Sysfs=")
        elif tag == "H":
            handlers = tuple(rest.removeprefix("Handlers=").split())
        elif tag == "B":
            key, _, value = rest.partition("=")
            bitmaps[key] = parse_bitmap(value, word_bits)
    if not ids and not name:
        return None
    return InputDevice(
        bus=_hex(ids.get("Bus")),
        vendor=_hex(ids.get("Vendor")),
        product=_hex(ids.get("Product")),
        name=name,
        phys=phys,
        sysfs=sysfs,
        handlers=handlers,
        bitmaps=bitmaps,
    )


def parse_input_devices(text: str, word_bits: int = 64) -> list[InputDevice]:
    """All blocks; blocks are separated by blank lines. Lines of unknown shape are ignored."""
    devices: list[InputDevice] = []
    block: list[str] = []
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if line:
            block.append(line)
            continue
        if block:
            device = _parse_block(block, word_bits)
            if device is not None:
                devices.append(device)
            block = []
    return devices
