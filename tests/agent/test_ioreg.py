"""The ioreg parser on real captured output (tests/fixtures/darwin-outputs/ioreg-*, sources in
its SOURCES.md), and on cut or damaged copies of it.

Expected values were read off the captures by hand: the AppleCLCD2 ``DisplayAttributes``
as printed, the EDID bytes decoded by hand (bytes 8-9 vendor, 10-11 product, 12-15 serial,
16-17 week/year, 20 input type, 21-22 size in cm, the first detailed timing's size in mm) and
checked against the ``DisplayVendorID``/``DisplayProductID``/``DisplaySerialNumber`` beside them
and, for the DELL U2715H, against edid-decode's output in the same source repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.parsers import ioreg

OUT = Path(__file__).parents[1] / "fixtures" / "darwin-outputs"
CAPTURES = sorted(p.name for p in OUT.glob("ioreg-*.txt"))


def read(name: str) -> str:
    return (OUT / name).read_text(encoding="utf-8")


def test_apple_silicon_m1_builtin_panel_and_external_dell():
    result = ioreg.parse_displays(read("ioreg-AppleCLCD2-m1-t8103.txt"))
    assert (result.nodes, result.problems) == (2, [])
    panel, dell = result.displays
    # "disp0,t8103", DisplayAttributes = {"ProductAttributes"={}}: nothing but its pixels.
    assert panel.label == "AppleCLCD2 0x1000002b1"
    assert (panel.internal, panel.vendor_pnp, panel.product_code, panel.name) == (
        True,
        None,
        None,
        None,
    )
    assert (panel.width_cm, panel.height_cm, panel.diagonal_in) == (None, None, None)
    assert panel.pixels == (2560, 1600)
    # "dispext0,t8103", "external" = Yes.
    assert (dell.internal, dell.vendor_pnp, dell.product_code, dell.name) == (
        False,
        "DEL",  # LegacyManufacturerID 4268 = 0x10ac
        0xD0F8,  # ProductID 53496
        "DELL P2421DC",
    )
    assert (dell.serial_number, dell.serial, dell.year) == (825642060, "4S0QR63", 2021)
    # MaxHorizontalImageSize=53, MaxVerticalImageSize=30: sqrt(53² + 30²) = 60.9 cm = 24.0".
    assert (dell.width_cm, dell.height_cm, dell.diagonal_in) == (53, 30, 24.0)
    assert (dell.native_width_px, dell.native_height_px, dell.pixels) == (2560, 1440, (2560, 1440))
    assert (dell.connector, dell.analog) == ("DP", None)


def test_apple_silicon_m1_pro_panel_with_apple_ids_cut_before_the_timings():
    # The capture stops in the middle of the external entry (no closing brace): what was
    # printed before the cut is read.
    result = ioreg.parse_displays(read("ioreg-AppleCLCD2-m1pro-t600x-prefix.txt"))
    assert (result.nodes, result.problems) == (2, [])
    panel, dell = result.displays
    # LegacyManufacturerID 1552 = 0x610 = APP; ProductID 62892014646337 is not an EDID code.
    assert (panel.internal, panel.vendor_pnp, panel.product_code) == (True, "APP", None)
    assert (panel.width_cm, panel.pixels) == (None, (3024, 1964))
    assert (dell.internal, dell.vendor_pnp, dell.product_code, dell.serial) == (
        False,
        "DEL",
        0xD0F8,
        "9D5RR63",
    )
    assert (dell.serial_number, dell.width_cm, dell.height_cm) == (809649484, 53, 30)


def test_intel_external_dell_1708fp_on_vga():
    [dell] = ioreg.parse_displays(read("ioreg-AppleDisplay-dell-1708fp.txt")).displays
    assert (dell.label, dell.internal) == ("AppleDisplay 0x100000deb", False)
    # EDID bytes 8-11: 10ac 2340 = DEL 0x4023 (DisplayVendorID 4268, DisplayProductID 16419).
    assert (dell.vendor_pnp, dell.product_code, dell.name) == ("DEL", 0x4023, "DELL 1708FP")
    # Bytes 12-15 = DisplaySerialNumber 843535699; the 0xFF descriptor is the printed serial.
    assert (dell.serial_number, dell.serial) == (843535699, "C891H87R2GUS")
    # Byte 20 = 0x6a: analog input. Bytes 21-22 = 0x22 0x1b = 34 x 27 cm; the detailed
    # timing's 338 x 270 mm make the diagonal 17.0".
    assert (dell.analog, dell.width_cm, dell.height_cm, dell.diagonal_in) == (True, 34, 27, 17.0)
    assert (dell.native_width_px, dell.native_height_px, dell.year) == (1280, 1024, 2008)


def test_intel_builtin_panel():
    [panel] = ioreg.parse_displays(read("ioreg-AppleBacklightDisplay-intel.txt")).displays
    assert (panel.internal, panel.vendor_pnp, panel.product_code, panel.name) == (
        True,
        "APP",  # DisplayVendorID 1552
        0xA02A,  # DisplayProductID 41002
        "Color LCD",
    )
    # DisplaySerialNumber = 0 and no serial descriptor: none.
    assert (panel.serial_number, panel.serial) == (None, None)
    # 0x1d 0x12 = 29 x 18 cm; 286 x 179 mm in the detailed timing: 13.3".
    assert (panel.width_cm, panel.height_cm, panel.diagonal_in) == (29, 18, 13.3)
    assert (panel.native_width_px, panel.native_height_px, panel.analog) == (2560, 1600, False)


def test_grep_excerpts_of_the_whole_tree():
    # `ioreg -l | grep -5 IODisplayEDID`: tree drawing, no entry lines, "--" between excerpts.
    full = ioreg.parse_displays(read("ioreg-l-grep-5-IODisplayEDID.txt"))
    # `ioreg -l | grep IODisplayEDID`: the two EDID lines alone.
    short = ioreg.parse_displays(read("ioreg-l-grep-IODisplayEDID.txt"))
    for result in (full, short):
        assert result.problems == []
        dell, tv = result.displays
        # As edid-decode prints it: DEL d065, serial GH85D49S0LSL, 60 x 34 cm, 597 x 336 mm.
        assert (dell.vendor_pnp, dell.product_code, dell.name, dell.serial) == (
            "DEL",
            0xD065,
            "DELL U2715H",
            "GH85D49S0LSL",
        )
        assert (dell.width_cm, dell.height_cm, dell.diagonal_in) == (60, 34, 27.0)
        # The LG TV (an OLED 55C7, says the README: about 121 x 68 cm) claims 160 x 90 cm
        # and 1600 x 900 mm. Reported as the EDID states it, as the Linux probe does.
        assert (tv.vendor_pnp, tv.product_code, tv.name) == ("GSM", 1, "LG TV")
        assert (tv.width_cm, tv.height_cm, tv.native_width_px) == (160, 90, 3840)
    # "IOClass" = "AppleDisplay" is in the longer excerpt only.
    assert [d.internal for d in full.displays] == [False, False]
    assert [d.internal for d in short.displays] == [None, None]


@pytest.mark.parametrize("name", CAPTURES)
def test_cut_output_is_read_as_far_as_it_goes(name):
    text = read(name)
    complete = ioreg.parse_displays(text)
    for cut in range(0, len(text), max(1, len(text) // 97)):
        result = ioreg.parse_displays(text[:cut])  # never raises
        assert len(result.displays) <= len(complete.displays)
        for display in result.displays:
            # A value cut off is unreadable, not shortened into another number.
            assert display.width_cm in (None, *(d.width_cm for d in complete.displays))
            assert display.pixels in (None, *(d.pixels for d in complete.displays))


def test_a_last_line_without_its_newline_is_not_read():
    text = read("ioreg-AppleCLCD2-m1-t8103.txt")
    end = text.index('"DisplayWidth" = 2560') + len('"DisplayWidth" = 25')
    result = ioreg.parse_displays(text[:end])
    assert result.displays[0].pixels is None  # not (25, 1600)


def test_lines_cut_to_the_terminal_width_are_a_problem():
    # What ioreg prints without -w0: every line cut to the terminal's width.
    text = read("ioreg-AppleCLCD2-m1-t8103.txt")
    result = ioreg.parse_displays("".join(line[:80] + "\n" for line in text.splitlines()))
    [panel] = result.displays
    assert panel.internal is True
    assert result.problems == [
        "AppleCLCD2 0x1000002b7: DisplayAttributes unreadable (string cut off)"
    ]


def test_damaged_edid_is_a_problem():
    text = read("ioreg-AppleDisplay-dell-1708fp.txt")
    edid_start = text.index("<00ffffffffffff00") + 1
    # Odd number of hex digits.
    result = ioreg.parse_displays(text[:edid_start] + text[edid_start + 1 :])
    assert result.displays == []
    assert result.problems[0].startswith("AppleDisplay 0x100000deb: IODisplayEDID unreadable")
    # Not an EDID header.
    result = ioreg.parse_displays(text.replace("<00ffffffffffff00", "<11ffffffffffff00"))
    assert result.displays == []
    assert "invalid IODisplayEDID: missing the EDID header" in result.problems[0]
    # One byte changed: the checksum no longer adds up; the facts are still decoded.
    result = ioreg.parse_displays(text.replace("44454c4c20313730384650", "44454c4c20313730384651"))
    assert result.problems == [
        "AppleDisplay 0x100000deb: EDID checksum mismatch; values decoded anyway"
    ]
    assert result.displays[0].name == "DELL 1708FQ"


def test_nothing_matched_and_garbage():
    for text in ("", "\n", "no such class\n", "{\n}\n", '"Key" = \n'):
        result = ioreg.parse_displays(text)
        assert result.displays == []
    assert ioreg.parse_displays("").nodes == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"DP"', "DP"),
        ("-3", -3),
        ("Yes", True),
        ("<00ff>", b"\x00\xff"),
        ("{}", {}),
        ("()", []),
        ('{"a"=(1,{"b"=No}),"c"="x,y}"}', {"a": [1, {"b": False}], "c": "x,y}"}),
    ],
)
def test_values(text, value):
    assert ioreg.parse_value(text) == value


@pytest.mark.parametrize(
    "text", ['"cut', "<0f", "<0g>", '{"a"=1', '{"a"}', "(1,2", "{1=2}", "maybe", "1 2", "(" * 40]
)
def test_malformed_values(text):
    with pytest.raises(ioreg.IoregValueError):
        ioreg.parse_value(text)
