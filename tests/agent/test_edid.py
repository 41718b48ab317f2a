"""parse_edid against edid-decode on real EDIDs (tests/fixtures/edid, see SOURCES.md there).

The reference is the edid-decode binary itself, run here on every blob: the expected values
are read from its output, not typed in by hand, so a fixture cannot drift from the truth.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.parsers.edid import EDID_HEADER, MAX_EDID_BYTES, Edid, EdidError, parse_edid

EDID_DIR = Path(__file__).parent.parent / "fixtures" / "edid"
BLOBS = sorted(EDID_DIR.glob("*.bin"))
EDID_DECODE = shutil.which("edid-decode") or (
    "/usr/bin/edid-decode" if Path("/usr/bin/edid-decode").exists() else None
)


def _require_edid_decode() -> str:
    if EDID_DECODE is None:
        reason = "edid-decode is not installed (Debian/Ubuntu package 'edid-decode')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must run the EDID comparison, not skip it")
        pytest.skip(reason)
    return EDID_DECODE


@dataclass
class Decoded:
    """What edid-decode says about the base block."""

    version: str | None = None
    manufacturer: str | None = None
    model: int | None = None
    serial_number: int | None = None
    week: int | None = None
    year: int | None = None
    model_year: bool = False
    size_cm: tuple[int, int] | None = None
    analog: bool | None = None
    dtd1: tuple[int, int, bool, float] | None = None
    dtd1_mm: tuple[int, int] | None = None
    names: list[str] = field(default_factory=list)
    serial_strings: list[str] = field(default_factory=list)
    extension_blocks: int = 0
    checksum_bad: bool = False


_DTD1 = re.compile(r"DTD\s+1:\s+(\d+)x(\d+)(i?)\s+([\d.]+) Hz.*?(?:\((\d+) mm x (\d+) mm\))?\s*$")


def run_edid_decode(path: Path) -> Decoded:
    binary = _require_edid_decode()
    proc = subprocess.run(
        [binary, str(path)], capture_output=True, text=True, check=False, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Block 0"))
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("----")), len(lines))
    out = Decoded()
    for raw in lines[start:end]:
        line = raw.strip()
        if m := re.match(r"EDID Structure Version & Revision: (\d+\.\d+)$", line):
            out.version = m[1]
        elif m := re.match(r"Manufacturer: (\S{3})$", line):
            out.manufacturer = m[1]
        elif m := re.match(r"Model: (\d+)$", line):
            out.model = int(m[1])
        elif m := re.match(r"Serial Number: (\d+)$", line):
            out.serial_number = int(m[1])
        elif m := re.match(r"Made in: week (\d+) of (\d+)$", line):
            out.week, out.year = int(m[1]), int(m[2])
        elif m := re.match(r"Made in: (\d+)$", line):
            out.year = int(m[1])
        elif m := re.match(r"Model year: (\d+)$", line):
            out.year, out.model_year = int(m[1]), True
        elif m := re.match(r"Maximum image size: (\d+) cm x (\d+) cm$", line):
            out.size_cm = (int(m[1]), int(m[2]))
        elif line == "Analog display":
            out.analog = True
        elif line == "Digital display":
            out.analog = False
        elif out.dtd1 is None and (m := _DTD1.match(line)):
            out.dtd1 = (int(m[1]), int(m[2]), m[3] == "i", float(m[4]))
            if m[5]:
                out.dtd1_mm = (int(m[5]), int(m[6]))
        elif m := re.match(r"Display Product Name: '(.*)'$", line):
            out.names.append(m[1])
        elif m := re.match(r"Display Product Serial Number: '(.*)'$", line):
            out.serial_strings.append(m[1])
        elif m := re.match(r"Extension blocks: (\d+)$", line):
            out.extension_blocks = int(m[1])
        elif line.startswith("Checksum:") and "should be" in line:
            out.checksum_bad = True
    return out


def test_fixture_set_is_big_and_documented() -> None:
    assert len(BLOBS) >= 20
    sources = (EDID_DIR / "SOURCES.md").read_text(encoding="utf-8")
    for blob in BLOBS:
        assert blob.name in sources, f"{blob.name} is not listed in SOURCES.md"
    kinds = {blob.name.split("-", 1)[0] for blob in BLOBS}
    assert {"desktop", "laptop", "analog", "projector", "tv"} <= kinds


@pytest.mark.parametrize("path", BLOBS, ids=[p.stem for p in BLOBS])
def test_matches_edid_decode(path: Path) -> None:
    ref = run_edid_decode(path)
    edid = parse_edid(path.read_bytes())

    assert edid.version == ref.version
    assert edid.vendor_pnp == ref.manufacturer
    assert edid.product_code == ref.model
    # Serial: the 0xFF string wins; otherwise the numeric one (edid-decode omits it when 0).
    if ref.serial_strings:
        assert edid.serial == ref.serial_strings[0]
    elif ref.serial_number:
        assert edid.serial == str(ref.serial_number)
    else:
        assert edid.serial is None
    assert edid.year == ref.year
    assert edid.year_is_model_year is (ref.model_year if ref.year is not None else None)
    assert edid.week == ref.week
    assert edid.analog is ref.analog
    if ref.size_cm is None:
        assert (edid.width_cm, edid.height_cm) == (None, None)
        assert edid.diagonal_in is None
    else:
        assert (edid.width_cm, edid.height_cm) == ref.size_cm
        # Whichever of the two sizes the diagonal comes from, it must agree with the cm size
        # to within its rounding.
        assert edid.diagonal_in is not None
        assert abs(edid.diagonal_in - math.hypot(*ref.size_cm) / 2.54) <= 1.0
    assert ref.dtd1 is not None
    width, height, _interlaced, hz = ref.dtd1
    assert (edid.native_width_px, edid.native_height_px) == (width, height)
    assert edid.native_refresh_hz is not None
    assert abs(edid.native_refresh_hz - hz) <= 0.006
    if ref.dtd1_mm is None:
        assert (edid.image_width_mm, edid.image_height_mm) == (None, None)
    else:
        assert (edid.image_width_mm, edid.image_height_mm) == ref.dtd1_mm
    assert edid.name == ("".join(ref.names) or None)
    assert edid.extension_count == ref.extension_blocks
    assert edid.checksum_ok is not ref.checksum_bad


def _blob(name: str) -> bytes:
    return (EDID_DIR / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "diagonal"),
    [
        # Diagonals a buyer would recognise: the DTD's millimetres, not the rounded cm.
        ("desktop-DEL200B-1AFCD3FC51C8.bin", 31.5),  # Dell D3218HN, 31.5"
        ("desktop-LEN0900-DBCD6DE91FCA.bin", 23.8),  # Lenovo M900 AIO-type 23.8" panel
        # BOE HB133WX1-402, sold as 13.3"; its EDID says 293 x 165 mm, which is 13.24".
        ("laptop-BOE05DF-042BEAC195EB.bin", 13.2),
        ("analog-ADI217A-8CC9C1091771.bin", 16.8),  # 17" class 5:4 (330 x 270 mm)
        # DTD says 800 x 450 mm, the base block 115 x 65 cm: inconsistent, the cm size wins.
        ("projector-APO0030-85F22D1B9AB3.bin", 52.0),
    ],
)
def test_diagonal(name: str, diagonal: float) -> None:
    assert parse_edid(_blob(name)).diagonal_in == diagonal


def test_model_year_of_a_tv() -> None:
    edid = parse_edid(_blob("tv-SHP1048-600D09741C83.bin"))
    assert (edid.year, edid.year_is_model_year, edid.week) == (2010, True, None)


def test_name_split_over_two_descriptors_is_joined() -> None:
    assert parse_edid(_blob("analog-GSM3B55-0C76E43B5062.bin")).name == "FLATRON L1510S"


def test_panel_without_name_descriptor() -> None:
    edid = parse_edid(_blob("laptop-CMN1343-9AEF0B2FE6E5.bin"))
    assert edid.name is None
    assert edid.serial is None
    assert (edid.native_width_px, edid.native_height_px, edid.native_refresh_hz) == (
        1920,
        1080,
        60.0,
    )


def test_sizeless_tv_ignores_aspect_ratio_in_dtd() -> None:
    # Philips FTV: no screen size, DTD image size 16 x 9 "mm" (an aspect ratio).
    edid = parse_edid(_blob("tv-PHL0000-3A6056B206A9.bin"))
    assert (edid.width_cm, edid.height_cm, edid.diagonal_in) == (None, None, None)
    assert (edid.native_width_px, edid.native_height_px) == (3840, 2160)


def _with_checksum(data: bytearray) -> bytes:
    data[127] = (-sum(data[:127])) % 256
    return bytes(data)


def test_edid_14_aspect_ratio_bytes_are_not_a_size() -> None:
    # Derived from a real 1.4 EDID: EDID 1.4 puts an aspect ratio (byte 21 = 0x4F: 1.78,
    # byte 22 = 0) where 1.3 has the size; that must not become a 79 x 0 cm screen.
    data = bytearray(_blob("desktop-LEN0900-DBCD6DE91FCA.bin"))
    data[21], data[22] = 0x4F, 0x00
    edid = parse_edid(_with_checksum(data))
    assert (edid.width_cm, edid.height_cm, edid.diagonal_in) == (None, None, None)
    assert edid.checksum_ok


def test_bad_checksum_parses_anyway() -> None:
    data = bytearray(_blob("laptop-LGD0211-F5E7220BF32E.bin"))
    data[127] ^= 0x01
    edid = parse_edid(bytes(data))
    assert not edid.checksum_ok
    assert edid.name == "LP141WX5-TLP1"


def test_bad_extension_checksum_is_reported() -> None:
    data = bytearray(_blob("desktop-DEL200B-1AFCD3FC51C8.bin"))
    data[255] ^= 0x01
    assert not parse_edid(bytes(data)).checksum_ok


def test_truncated_extensions_still_parse() -> None:
    # A read that got only the base block of a 2-block EDID.
    edid = parse_edid(_blob("desktop-DEL200B-1AFCD3FC51C8.bin")[:128])
    assert edid.extension_count == 1
    assert edid.checksum_ok
    assert edid.name == "D3218HN"


def test_edid_14_year_before_2006_is_junk() -> None:
    data = bytearray(_blob("laptop-CMN1132-4C2D24EA89A5.bin"))
    data[17] = 0x05  # 1995: impossible for an EDID 1.4 display
    edid = parse_edid(_with_checksum(data))
    assert (edid.year, edid.year_is_model_year, edid.week) == (None, None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter"),
        (EDID_HEADER, "shorter"),
        (b"\x00" * 127, "shorter"),
        (b"\x00" * 128, "header"),
        (b"<html>not an edid</html>".ljust(256, b" "), "header"),
        (EDID_HEADER + b"\x00" * MAX_EDID_BYTES, "larger"),
    ],
)
def test_not_an_edid(data: bytes, message: str) -> None:
    with pytest.raises(EdidError, match=message):
        parse_edid(data)


def test_edid_error_is_a_value_error() -> None:
    assert issubclass(EdidError, ValueError)


def test_largest_allowed_edid() -> None:
    data = _blob("desktop-DEL200B-1AFCD3FC51C8.bin").ljust(MAX_EDID_BYTES, b"\x00")
    assert parse_edid(data).vendor_pnp == "DEL"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        # With a valid header the decoder gets past the first checks into the descriptors.
        st.binary(min_size=0, max_size=400).map(lambda tail: EDID_HEADER + tail),
    )
)
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        edid = parse_edid(data)
    except EdidError:
        return
    assert isinstance(edid, Edid)
    assert len(edid.vendor_pnp) == 3
    if edid.year is not None:
        assert 1990 <= edid.year <= 2245
    if edid.native_refresh_hz is not None:
        assert edid.native_refresh_hz >= 0


def test_missing_edid_decode_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.EDID_DECODE", None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        _require_edid_decode()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        _require_edid_decode()
