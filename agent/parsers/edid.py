"""EDID (VESA E-EDID 1.3/1.4) base block: who made the display, how big it is, what it shows.

Only the facts an inventory needs are decoded; extension blocks (CTA-861, DisplayID) are
counted, not parsed. Real EDIDs are often sloppy (wrong checksums, week 0xFF in 1.3, names
split over two descriptors, image sizes in the wrong unit), so the decoder is lenient where
the data is still meaningful and answers ``None`` where it is not, rather than guessing.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

EDID_HEADER = b"\x00\xff\xff\xff\xff\xff\xff\x00"
BLOCK_SIZE = 128
# 256 blocks of 128 bytes is the most the E-DDC addressing can reach; anything bigger is not an
# EDID, and refusing it keeps a hostile sysfs file or upload from costing memory.
MAX_EDID_BYTES = 32 * 1024

_DESCRIPTOR_OFFSETS = (54, 72, 90, 108)
_TAG_SERIAL = 0xFF
_TAG_NAME = 0xFC


class EdidError(ValueError):
    """The bytes are not an EDID at all (as opposed to an EDID with sloppy content)."""


@dataclass(frozen=True)
class Edid:
    vendor_pnp: str
    product_code: int
    serial: str | None
    name: str | None
    width_cm: int | None
    height_cm: int | None
    diagonal_in: float | None
    native_width_px: int | None
    native_height_px: int | None
    native_refresh_hz: float | None
    year: int | None
    year_is_model_year: bool | None
    week: int | None
    analog: bool
    version: str
    extension_count: int
    checksum_ok: bool
    # The first detailed timing's image size; kept because it is more precise than the cm size.
    image_width_mm: int | None
    image_height_mm: int | None


@dataclass(frozen=True)
class _Timing:
    width_px: int
    height_px: int
    refresh_hz: float | None
    image_width_mm: int
    image_height_mm: int


def parse_edid(data: bytes) -> Edid:
    """Decode an EDID blob as read from ``/sys/class/drm/*/edid`` or a monitor's EEPROM."""
    if len(data) > MAX_EDID_BYTES:
        raise EdidError(f"{len(data)} bytes is larger than any EDID ({MAX_EDID_BYTES} bytes)")
    if len(data) < BLOCK_SIZE:
        raise EdidError(f"{len(data)} bytes is shorter than an EDID base block ({BLOCK_SIZE})")
    if data[:8] != EDID_HEADER:
        raise EdidError("missing the EDID header 00 ff ff ff ff ff ff 00")

    base = data[:BLOCK_SIZE]
    version_major, version_minor = base[18], base[19]
    is_v14 = (version_major, version_minor) >= (1, 4)
    extension_count = base[126]

    width_cm, height_cm = _screen_size(base[21], base[22])
    timing = _first_detailed_timing(base)
    year, is_model_year, week = _date(base[16], base[17], is_v14)

    return Edid(
        vendor_pnp=_pnp_id(base[8], base[9]),
        product_code=struct.unpack_from("<H", base, 10)[0],
        serial=_serial(base),
        name=_name(base),
        width_cm=width_cm,
        height_cm=height_cm,
        diagonal_in=_diagonal(width_cm, height_cm, timing),
        native_width_px=timing.width_px if timing else None,
        native_height_px=timing.height_px if timing else None,
        native_refresh_hz=timing.refresh_hz if timing else None,
        year=year,
        year_is_model_year=is_model_year,
        week=week,
        analog=not base[20] & 0x80,
        version=f"{version_major}.{version_minor}",
        extension_count=extension_count,
        checksum_ok=_checksums_ok(data, extension_count),
        image_width_mm=timing.image_width_mm if timing and timing.image_width_mm else None,
        image_height_mm=timing.image_height_mm if timing and timing.image_height_mm else None,
    )


def _pnp_id(high: int, low: int) -> str:
    # Three 5-bit letters, 1 = 'A'. Zero maps to '@', as edid-decode prints it, so that a
    # blank vendor shows up as such instead of vanishing.
    word = high << 8 | low
    return "".join(chr(64 + (word >> shift & 0x1F)) for shift in (10, 5, 0))


def _screen_size(h: int, v: int) -> tuple[int | None, int | None]:
    # Both zero: projectors and TVs whose size depends on the setup. Only one zero: EDID 1.4
    # stores an aspect ratio there instead of a size (and in 1.3 it is simply invalid). Either
    # way there is no physical size to report.
    if h == 0 or v == 0:
        return None, None
    return h, v


def _date(week: int, year_byte: int, is_v14: bool) -> tuple[int | None, bool | None, int | None]:
    year = 1990 + year_byte
    # EDID 1.4 reserves year bytes below 0x10 (before 2006) because 1.4 did not exist then;
    # such a value is junk, not a date.
    if is_v14 and year_byte < 0x10:
        return None, None, None
    if week == 0xFF:
        # Week 0xFF flags a model year (defined by 1.4; 1.3 TVs use it too and edid-decode
        # reads it the same way).
        return year, True, None
    # Weeks 1..54 are valid; 0 means "not given"; anything else is a broken week, but the year
    # beside it is still the year of manufacture.
    return year, False, week if 1 <= week <= 54 else None


def _descriptors(base: bytes) -> list[bytes]:
    return [base[off : off + 18] for off in _DESCRIPTOR_OFFSETS]


def _text(desc: bytes) -> str:
    raw = desc[5:18].split(b"\x0a", 1)[0]
    # The standard says ASCII; bytes above 0x7E appear in the wild and decode as latin-1 so
    # that nothing raises. Control characters are dropped: they only garble reports.
    text = raw.decode("latin-1")
    return "".join(ch for ch in text if ch.isprintable()).strip()


def _is_display_descriptor(desc: bytes) -> bool:
    return desc[0] == 0 and desc[1] == 0 and desc[2] == 0


def _name(base: bytes) -> str | None:
    # Some vendors (LG's FLATRON line among them) split a long name over two 0xFC descriptors,
    # 'FLATRON L1510' + 'S'; joined, they are the model printed on the case.
    parts = [
        _text(d) for d in _descriptors(base) if _is_display_descriptor(d) and d[3] == _TAG_NAME
    ]
    name = "".join(parts).strip()
    return name or None


def _serial(base: bytes) -> str | None:
    for desc in _descriptors(base):
        if _is_display_descriptor(desc) and desc[3] == _TAG_SERIAL:
            text = _text(desc)
            if text:
                return text
    number: int = struct.unpack_from("<I", base, 12)[0]
    return str(number) if number else None


def _first_detailed_timing(base: bytes) -> _Timing | None:
    for desc in _descriptors(base):
        pixel_clock_10khz = desc[0] | desc[1] << 8
        if pixel_clock_10khz == 0:
            continue  # a display descriptor, not a timing
        h_active = desc[2] | (desc[4] & 0xF0) << 4
        h_blank = desc[3] | (desc[4] & 0x0F) << 8
        v_active = desc[5] | (desc[7] & 0xF0) << 4
        v_blank = desc[6] | (desc[7] & 0x0F) << 8
        image_w = desc[12] | (desc[14] & 0xF0) << 4
        image_h = desc[13] | (desc[14] & 0x0F) << 8
        interlaced = bool(desc[17] & 0x80)
        h_total = h_active + h_blank
        v_total = v_active + v_blank
        refresh: float | None = None
        if h_total and v_total:
            clock_hz = pixel_clock_10khz * 10_000
            if interlaced:
                # Each field carries half the lines; the frame has one extra half line.
                refresh = clock_hz * 2 / (h_total * (2 * v_total + 1))
            else:
                refresh = clock_hz / (h_total * v_total)
            refresh = round(refresh, 2)
        return _Timing(
            width_px=h_active,
            height_px=v_active * 2 if interlaced else v_active,
            refresh_hz=refresh,
            image_width_mm=image_w,
            image_height_mm=image_h,
        )
    return None


def _diagonal(width_cm: int | None, height_cm: int | None, timing: _Timing | None) -> float | None:
    if width_cm is None or height_cm is None:
        # Without a physical size the DTD image size is not to be trusted either: size-less
        # TVs put an aspect ratio there (16 x 9 mm) and projectors put zeros.
        return None
    width_mm, height_mm = width_cm * 10.0, height_cm * 10.0
    if (
        timing
        and _consistent(timing.image_width_mm, width_cm)
        and _consistent(timing.image_height_mm, height_cm)
    ):
        # The DTD gives millimetres, the basic block only whole (often truncated) centimetres:
        # 34 cm vs 344 mm is a 15.3" vs 15.5" panel.
        width_mm, height_mm = float(timing.image_width_mm), float(timing.image_height_mm)
    return round(math.hypot(width_mm, height_mm) / 25.4, 1)


def _consistent(mm: int, cm: int) -> bool:
    # Within rounding of the cm value plus 10 %: catches DTDs that carry centimetres, an
    # aspect ratio or a different (projected) size, which are frequent in real EDIDs.
    return mm > 0 and abs(mm / 10 - cm) <= 1 + 0.1 * cm


def _checksums_ok(data: bytes, extension_count: int) -> bool:
    # Every block present that the base block announces must sum to 0 mod 256. Blocks beyond
    # the data (a truncated read) cannot be checked and do not count against it.
    blocks = min(1 + extension_count, len(data) // BLOCK_SIZE)
    return all(sum(data[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE]) % 256 == 0 for i in range(blocks))
