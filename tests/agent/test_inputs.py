"""Inputs probe and the /proc/bus/input/devices parser.

Fixture sources: tests/fixtures/linux/inputs/SOURCES.md.
"""

from __future__ import annotations

import pytest

from agent.parsers.input_devices import BUS_I8042, BUS_USB, parse_bitmap, parse_input_devices
from agent.probes import inputs
from tests.fakes import FIXTURES, context, machine

INPUTS = FIXTURES / "linux" / "inputs"
ROOTFS = FIXTURES / "rootfs"


def devices(name: str):
    return parse_input_devices((INPUTS / f"{name}.devices").read_text(encoding="utf-8"))


def test_bitmap_words_are_64_bit_most_significant_first() -> None:
    # Sleep button: KEY_SLEEP = 142 = word 2, bit 14.
    assert parse_bitmap("4000 0 0") == 1 << 142
    assert parse_bitmap("3", word_bits=32) == 3
    assert parse_bitmap("zz") == 0


def test_acer_laptop_with_usb_dongle() -> None:
    devs = devices("acer-v3-572g-usb-wireless-dongle")
    assert len(devs) == 15
    kbd = next(d for d in devs if d.name == "AT Translated Set 2 keyboard")
    assert kbd.bus == BUS_I8042 and kbd.bus_name == "i8042" and kbd.is_keyboard
    dongle = next(d for d in devs if d.name == "G-Tech Wireless Dongle")
    assert dongle.bus == BUS_USB and dongle.handlers == ("kbd", "mouse0", "event5")
    # Multimedia keys but no alphabet: a mouse receiver, not a keyboard.
    assert dongle.is_pointing and not dongle.is_keyboard
    webcam = next(d for d in devs if d.name == "HD WebCam")
    assert not webcam.is_keyboard and not webcam.is_pointing  # a snapshot button
    accel = next(d for d in devs if "accelerometer" in d.name)
    assert not accel.is_pointing  # absolute axes, no buttons
    assert [d.name for d in devs if d.is_keyboard] == ["AT Translated Set 2 keyboard"]


def test_fedora_bolt_receiver_and_i2c_touchpad() -> None:
    devs = {d.name: d for d in devices("fedora-laptop-logitech-bolt-excerpt")}
    assert devs["VEN_06CB:00 06CB:CF06 Touchpad"].bus_name == "i2c"
    assert devs["VEN_06CB:00 06CB:CF06 Touchpad"].is_pointing
    assert devs["Logitech MX Keys"].is_keyboard
    assert devs["Logitech MX Master 3"].is_pointing
    assert not devs["Power Button"].is_keyboard


def test_empty_file_has_no_devices() -> None:
    assert devices("debian12-firecracker-vm") == []


def _probe(root: str):
    ctx, errors = context(machine(root=ROOTFS / root), "inputs")
    return inputs.collect_linux(ctx), errors.entries


@pytest.mark.parametrize(
    ("root", "keyboard", "pointing"),
    [
        ("inputs-acer-v3-572g-no-external", False, False),  # laptop, nothing plugged in
        ("inputs-acer-v3-572g-usb-wireless-dongle", False, True),  # USB mouse receiver
        ("inputs-fedora-laptop-logitech-bolt-excerpt", True, True),  # USB keyboard + mouse
        ("inputs-debian12-firecracker-vm", False, False),  # VM: no HID at all is a fact
        # Razer Blade: built-in keyboard on an internal USB port marked "fixed".
        ("inputs-razer-blade-usb-internal-keyboard-excerpt", False, False),
    ],
)
def test_probe(root: str, keyboard: bool, pointing: bool) -> None:
    result, errors = _probe(root)
    assert result is not None and errors == []
    assert (result.external_keyboard, result.external_pointing) == (keyboard, pointing)


def test_probe_usb_without_removable_attribute_counts_as_external(tmp_path) -> None:
    (tmp_path / "proc/bus/input").mkdir(parents=True)
    (tmp_path / "proc/bus/input/devices").write_text(
        (INPUTS / "razer-blade-usb-internal-keyboard-excerpt.devices").read_text()
    )
    ctx, _ = context(machine(root=tmp_path), "inputs")
    result = inputs.collect_linux(ctx)
    assert result is not None and (result.external_keyboard, result.external_pointing) == (
        True,
        True,
    )


def test_probe_without_devices_file_is_unknown() -> None:
    result, errors = _probe("inputs-no-procfs")
    assert result is None
    assert (
        len(errors) == 1 and errors[0][0] == "inputs" and "/proc/bus/input/devices" in errors[0][1]
    )
