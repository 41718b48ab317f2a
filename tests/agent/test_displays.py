"""The Linux displays probe on captured /sys/class/drm trees (tests/fixtures/sysfs/displays-*)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.parsers.edid import MAX_EDID_BYTES
from agent.probes.displays import collect_linux
from agent.schema import Display, Report, convert, to_data
from tests.fakes import FIXTURES, context, machine

SYSFS = FIXTURES / "sysfs"


def _known(display: Display) -> dict[str, object]:
    """The fields of a display that are not null (unknown)."""
    return {k: v for k, v in to_data(display).items() if v is not None}


EDID_DIR = FIXTURES / "edid"


def _collect(root: Path) -> tuple[list[Display] | None, list[tuple[str, str]]]:
    ctx, errors = context(machine(root=root), probe="displays")
    return collect_linux(ctx), errors.entries


def _by_connector(displays: list[Display] | None) -> dict[str | None, Display]:
    assert displays is not None
    return {d.connector: d for d in displays}


def test_laptop_with_dock() -> None:
    displays, errors = _collect(SYSFS / "displays-laptop-docked")
    found = _by_connector(displays)
    # Disconnected DP-2 is left out; sysfs order (sorted) is kept.
    assert list(found) == ["card1-DP-1", "card1-HDMI-A-1", "card1-eDP-1"]

    panel = found["card1-eDP-1"]
    assert panel.internal is True
    assert panel.vendor_pnp == "CMN"
    assert panel.model == "0x1343"  # no name descriptor: the product code identifies it
    assert panel.product_code == 0x1343
    assert panel.serial is None
    assert (panel.width_cm, panel.height_cm, panel.diagonal_in) == (28, 16, 12.9)
    assert (panel.native_width_px, panel.native_height_px) == (1920, 1080)
    assert (panel.year, panel.year_is_model_year, panel.analog) == (2011, False, False)

    monitor = found["card1-DP-1"]
    assert monitor.internal is False
    assert (monitor.vendor_pnp, monitor.model, monitor.serial) == ("DEL", "D3218HN", "X9R5K8864M1E")
    assert (monitor.width_cm, monitor.height_cm, monitor.diagonal_in) == (70, 39, 31.5)
    assert (monitor.native_width_px, monitor.native_height_px) == (1920, 1080)
    assert monitor.year == 2018

    # The current mode is not in sysfs (the first line of `modes` is the preferred one).
    for display in found.values():
        assert display.current_width_px is None
        assert display.current_height_px is None
        assert display.refresh_hz is None
        assert display.scale is None

    # Connected without EDID: reported, but only with what is known for sure.
    hdmi = found["card1-HDMI-A-1"]
    assert _known(hdmi) == {"connector": "card1-HDMI-A-1", "internal": False}
    assert errors == [("displays", "card1-HDMI-A-1: connected, but the kernel has no EDID for it")]


def test_vga_desktop_with_broken_edids() -> None:
    displays, errors = _collect(SYSFS / "displays-desktop-vga")
    found = _by_connector(displays)
    assert list(found) == ["card0-DVI-I-1", "card0-HDMI-A-1", "card0-VGA-1"]

    vga = found["card0-VGA-1"]
    assert vga.analog is True
    assert (vga.vendor_pnp, vga.model, vga.serial) == ("ADI", "ADI MS A715", "3942")
    assert (vga.width_cm, vga.height_cm, vga.diagonal_in) == (33, 27, 16.8)
    assert (vga.native_width_px, vga.native_height_px, vga.year) == (1280, 1024, 2003)

    # A projector: no screen size, so no diagonal; the bad checksum is noted, not fatal.
    projector = found["card0-HDMI-A-1"]
    assert (projector.vendor_pnp, projector.model) == ("OTM", "Optoma 1080P")
    assert (projector.width_cm, projector.height_cm, projector.diagonal_in) == (None, None, None)
    assert (projector.native_width_px, projector.native_height_px) == (1920, 1080)

    junk = found["card0-DVI-I-1"]
    assert _known(junk) == {"connector": "card0-DVI-I-1", "internal": False}

    messages = [message for probe, message in errors if probe == "displays"]
    assert len(messages) == len(errors) == 2
    assert messages[0].startswith("card0-DVI-I-1: invalid EDID: missing the EDID header")
    assert messages[1] == "card0-HDMI-A-1: EDID checksum mismatch; values decoded anyway"


def test_headless_server_has_no_displays() -> None:
    displays, errors = _collect(SYSFS / "displays-headless")
    assert displays is None
    assert len(errors) == 1
    assert errors[0][1].startswith("no DRM connectors in /sys/class/drm with a connected display")


def test_no_drm_directory(tmp_path: Path) -> None:
    (tmp_path / "sys" / "class").mkdir(parents=True)
    displays, errors = _collect(tmp_path)
    assert displays is None
    assert len(errors) == 1
    assert errors[0][1].startswith("no DRM connectors in /sys/class/drm")


def test_drm_without_connectors(tmp_path: Path) -> None:
    # A render-only GPU (compute card, or a VM without a display device).
    drm = tmp_path / "sys" / "class" / "drm"
    (drm / "renderD128").mkdir(parents=True)
    (drm / "version").write_text("drm 1.1.0 20060810\n")
    displays, errors = _collect(tmp_path)
    assert displays is None
    assert errors[0][1].startswith("no DRM connectors in /sys/class/drm")


def _connector(root: Path, name: str, edid: bytes | None, status: str = "connected") -> Path:
    path = root / "sys" / "class" / "drm" / name
    path.mkdir(parents=True)
    (path / "status").write_text(f"{status}\n")
    if edid is not None:
        (path / "edid").write_bytes(edid)
    return path


def test_connector_types(tmp_path: Path) -> None:
    blob = (EDID_DIR / "laptop-LGD0211-F5E7220BF32E.bin").read_bytes()
    for name in ("card0-LVDS-1", "card0-DSI-1", "card0-DVI-D-1", "card0-Virtual-1"):
        _connector(tmp_path, name, blob)
    _connector(tmp_path, "card0-Writeback-1", None, status="unknown")
    displays, errors = _collect(tmp_path)
    found = _by_connector(displays)
    assert {name: d.internal for name, d in found.items()} == {
        "card0-DSI-1": True,
        "card0-DVI-D-1": False,
        "card0-LVDS-1": True,
        "card0-Virtual-1": False,
    }
    assert errors == []


def test_unreadable_and_oversized_edid(tmp_path: Path) -> None:
    # A directory where the file should be stands in for an unreadable edid (tests may run
    # as root, where permissions do not stop a read).
    (_connector(tmp_path, "card0-DP-1", None) / "edid").mkdir()
    header = (EDID_DIR / "desktop-LEN0900-DBCD6DE91FCA.bin").read_bytes()
    _connector(tmp_path, "card0-DP-2", header.ljust(MAX_EDID_BYTES + 100, b"\x00"))
    _connector(tmp_path, "card0-DP-3", None)  # no edid attribute at all
    displays, errors = _collect(tmp_path)
    found = _by_connector(displays)
    assert all(d.vendor_pnp is None for d in found.values())
    assert len(found) == 3
    messages = [message for _, message in errors]
    assert messages[0].startswith("card0-DP-1: cannot read EDID")
    assert messages[1].startswith("card0-DP-2: invalid EDID:") and "larger" in messages[1]
    assert messages[2].startswith("card0-DP-3: cannot read EDID")


@pytest.mark.parametrize("tree", ["displays-laptop-docked", "displays-desktop-vga"])
def test_result_fits_the_report_schema(tree: str) -> None:
    displays, _ = _collect(SYSFS / tree)
    assert displays
    report = convert(
        {
            "schema_version": 1,
            "report_id": "00000000-0000-4000-8000-000000000000",
            "collected_at": "2024-01-01T00:00:00Z",
            "displays": [to_data(d) for d in displays],
        },
        Report,
    )
    assert report.displays is not None and len(report.displays) == len(displays)
