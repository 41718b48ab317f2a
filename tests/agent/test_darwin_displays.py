"""The macOS displays probe: system_profiler's displays joined with ioreg's sizes.

Command output is real (tests/fixtures/darwin-outputs). Where a test needs a system_profiler
display that no capture holds, it is built as the parsed record (``sp.DisplayInfo``) and says
so: it exercises the join, it does not stand for captured output.
"""

from __future__ import annotations

from dataclasses import replace

from agent.parsers import ioreg
from agent.parsers import system_profiler as sp
from agent.probes.darwin import displays as probe
from agent.schema import Display, convert, to_data
from tests.fakes import FIXTURES, FixtureRunner, context, machine

SP_DISPLAYS = ["system_profiler", "-json", "SPDisplaysDataType"]
M1 = "darwin-outputs/ioreg-AppleCLCD2-m1-t8103.txt"


def _run(runner: FixtureRunner):
    ctx, errors = context(machine(runner, platform="darwin"), probe="displays")
    return probe.collect(ctx), [message for _, message in errors.entries], runner.calls


def _registry(name: str) -> list[ioreg.IoregDisplay]:
    return ioreg.parse_displays((FIXTURES / name).read_text(encoding="utf-8")).displays


# A system_profiler record for a monitor, as parse_displays makes it; tests fill in the rest.
BLANK = sp.DisplayInfo(
    name=None,
    connection=None,
    internal=None,
    virtual=False,
    vendor_pnp=None,
    product_code=None,
    serial_number=None,
    year=None,
    native=None,
    pixels=None,
    looks_like=None,
    refresh_hz=None,
)


def test_apple_silicon_two_captures_of_two_macs():
    runner = FixtureRunner()
    runner.add_file(SP_DISPLAYS, "darwin-outputs/sp-displays-m1pro.json")
    runner.add_file(probe.IOREG_APPLE_SILICON, M1)
    displays, errors, calls = _run(runner)
    assert tuple(probe.IOREG_INTEL) not in calls  # AppleCLCD2 answered: not an Intel Mac
    assert displays is not None
    dell_u, panel, dell_p = displays
    # system_profiler's monitors: ioreg has no entry with their EDID ids, so no size.
    assert (dell_u.model, dell_u.width_cm, dell_u.diagonal_in) == ("DELL U3419W", None, None)
    assert (panel.model, panel.internal, panel.width_cm) == ("Color LCD", True, None)
    # ioreg's built-in panel is 2560 x 1600, system_profiler's 3456 x 2234: another Mac's.
    assert "ioreg: built-in panel (2560x1600) is not the one system_profiler lists: not used" in (
        errors
    )
    # ioreg's external monitor, from ioreg alone: its own size, nobody else's.
    assert (dell_p.model, dell_p.vendor_pnp, dell_p.product_code, dell_p.serial) == (
        "DELL P2421DC",
        "DEL",
        0xD0F8,
        "4S0QR63",
    )
    assert (dell_p.width_cm, dell_p.height_cm, dell_p.diagonal_in) == (53, 30, 24.0)
    assert (dell_p.internal, dell_p.connector, dell_p.current_width_px) == (False, "DP", None)
    assert sum("no physical size" in e for e in errors) == 2
    # The values joined in after construction still fit the report's schema.
    assert [convert(to_data(d), Display) for d in displays] == displays


def test_intel_mac_falls_back_to_the_edid():
    runner = FixtureRunner()
    runner.add(probe.IOREG_APPLE_SILICON, "")  # no AppleCLCD2 on an Intel Mac
    runner.add_file(probe.IOREG_INTEL, "darwin-outputs/ioreg-AppleDisplay-dell-1708fp.txt")
    displays, errors, calls = _run(runner)
    assert calls[-1] == tuple(probe.IOREG_INTEL)
    # system_profiler did not answer (not in this fixture): ioreg's display stands alone.
    assert errors == ["system_profiler -json SPDisplaysDataType: not-found"]
    assert displays is not None
    [dell] = displays
    assert (dell.model, dell.serial, dell.analog) == ("DELL 1708FP", "C891H87R2GUS", True)
    assert (dell.width_cm, dell.height_cm, dell.diagonal_in) == (34, 27, 17.0)


def test_nothing_at_all():
    displays, errors, _ = _run(FixtureRunner())
    assert displays is None
    assert len(errors) == 3  # system_profiler and both ioreg commands


def test_the_same_monitor_by_edid_vendor_product_and_serial():
    [_, reg] = _registry(M1)
    # The DELL P2421DC as system_profiler would list it (hex ids as in its JSON).
    info = replace(BLANK, name="DELL P2421DC", vendor_pnp="DEL", product_code=0xD0F8)
    [joined], problems = probe.join([replace(info, serial_number=825642060)], [reg])
    assert (joined.model, joined.width_cm, joined.height_cm, joined.diagonal_in) == (
        "DELL P2421DC",
        53,
        30,
        24.0,
    )
    assert (joined.serial, joined.year, problems) == ("4S0QR63", 2021, [])
    # Same model, another unit (the serial of the M1 Pro capture's DELL): two monitors, the
    # size stays with the one it was read from.
    other, alone = probe.join([replace(info, serial_number=809649484)], [reg])[0]
    assert other.width_cm is None and (alone.serial, alone.width_cm) == ("4S0QR63", 53)


def test_builtin_panel_of_apple_silicon_stays_without_size():
    registry = _registry(M1)
    # A built-in panel of the same pixel size as the capture's (the capture's Mac has no
    # system_profiler output): the one built-in panel of a Mac, joined although Apple gives
    # no EDID product code for it in ioreg.
    info = replace(BLANK, name="Color LCD", internal=True, vendor_pnp="APP", native=(2560, 1600))
    [builtin, dell], problems = probe.join([info], registry)
    assert (builtin.internal, builtin.width_cm, builtin.diagonal_in) == (True, None, None)
    assert problems == [
        "Color LCD: ioreg (AppleCLCD2 0x1000002b1) gives no physical size for it either: "
        "width, height, diagonal unknown"
    ]
    assert dell.width_cm == 53


def test_intel_builtin_panel_by_its_edid_ids():
    [panel] = _registry("darwin-outputs/ioreg-AppleBacklightDisplay-intel.txt")
    info = replace(BLANK, name="Color LCD", internal=True, vendor_pnp="APP", product_code=0xA02A)
    [builtin], problems = probe.join([info], [panel])
    assert (builtin.width_cm, builtin.height_cm, builtin.diagonal_in, problems) == (
        29,
        18,
        13.3,
        [],
    )


def test_no_second_entry_when_one_side_gives_no_ids():
    [_, reg] = _registry(M1)
    dell_u = replace(BLANK, name="DELL U3419W", vendor_pnp="DEL", product_code=0xA130)
    for info, entry in (
        (replace(BLANK, name="Unknown Display"), reg),  # system_profiler without ids
        (dell_u, replace(reg, product_code=None)),  # ioreg without ids
    ):
        displays, problems = probe.join([info], [entry])
        assert [d.model for d in displays] == [info.name]
        assert any("DELL P2421DC not added" in p for p in problems)
    # Both with ids, and different: two monitors.
    displays, _ = probe.join([dell_u], [reg])
    assert [d.model for d in displays] == ["DELL U3419W", "DELL P2421DC"]
