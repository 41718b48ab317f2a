"""``ioreg`` (the macOS I/O Registry): the display nodes, for what system_profiler leaves out.

``system_profiler SPDisplaysDataType`` names each display and its resolutions but gives no
physical size. The registry has it, in one of two forms:

* Apple silicon, ``ioreg -c AppleCLCD2 -r -lw0 -d 1``: one node per display pipe. An external
  display's ``DisplayAttributes`` carry its EDID facts already decoded by macOS:
  ``ProductAttributes`` (manufacturer, product code, serial, name, year) and
  ``MaxHorizontalImageSize``/``MaxVerticalImageSize``, the EDID's size in centimetres (bytes
  21 and 22). The built-in panel's ``DisplayAttributes`` have no size.
* Intel, ``ioreg -c AppleDisplay -r -lw0 -d 1``: ``IODisplayEDID`` is the raw EDID, decoded by
  :mod:`agent.parsers.edid`. ``AppleBacklightDisplay``, the built-in panel, derives from
  ``AppleDisplay`` and is listed by the same command.

The text format: a node starts with ``+-o Name  <class Class, id …>``, its properties are
``"Key" = value`` lines between ``{`` and ``}``; values are ``"strings"``, numbers, ``Yes``/
``No``, ``<hex data>``, ``{"key"=value,…}`` and ``(value,…)``. Without ``-r`` every line carries
the tree's ``| |`` drawing, and ``grep`` excerpts lack the node lines: both are read too.
Only the few properties a display needs are decoded (the timing lists run to 100 kB and more);
anything malformed or cut off becomes a problem in the result, never an exception.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from agent.parsers.edid import MAX_EDID_BYTES, EdidError, parse_edid

_HEADER = re.compile(r"^\+-o (?P<name>.+?)\s+<class (?P<cls>[^,>]+)(?:, id (?P<id>0x[0-9a-f]+))?")
_PROPERTY = re.compile(r'^"(?P<key>[^"]+)" = (?P<value>.*)$')
_TREE = re.compile(r"^[ |]*")
_NUMBER = re.compile(r"-?\d+")
_MAX_DEPTH = 32

Value = str | int | bool | bytes | list["Value"] | dict[str, "Value"]


class IoregValueError(ValueError):
    """A property value that is not in ioreg's notation (or is cut off)."""


@dataclass
class Node:
    """One registry entry: its class and its properties, values still as ioreg printed them."""

    name: str | None = None
    io_class: str | None = None
    node_id: str | None = None
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        cls = self.io_class or "registry entry"
        return f"{cls} {self.node_id}" if self.node_id else cls

    def value(self, key: str) -> Value | None:
        """The decoded value of ``key``; None if absent. Raises IoregValueError if malformed."""
        text = self.raw.get(key)
        return None if text is None else parse_value(text)


def parse_nodes(text: str) -> list[Node]:
    """The registry entries in ``ioreg -l`` output (with or without ``-r``, or grep excerpts)."""
    nodes: list[Node] = []
    current: Node | None = None

    def start(node: Node) -> Node:
        nodes.append(node)
        return node

    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()  # cut off mid-line: "DisplayWidth" = 25 might have been 2560
    for raw_line in lines:
        line = _TREE.sub("", raw_line, count=1).rstrip()
        header = _HEADER.match(line)
        if header:
            current = start(Node(header["name"], header["cls"].strip(), header["id"]))
            continue
        if line in ("}", "--"):  # end of the entry, or grep's separator between excerpts
            current = None
            continue
        if line == "{":
            if current is not None and current.raw:  # grep excerpts: a block without a header
                current = None
            continue
        prop = _PROPERTY.match(line)
        if prop is None:
            continue
        if current is None or prop["key"] in current.raw:
            current = start(Node())
        current.raw[prop["key"]] = prop["value"]
    for node in nodes:
        if node.io_class is None and "IOClass" in node.raw:
            cls = node.raw["IOClass"]
            node.io_class = cls.strip('"') if cls.startswith('"') else None
    return [n for n in nodes if n.raw]


def parse_value(text: str) -> Value:
    """One property value in ioreg's notation."""
    value, end = _value(text, 0, 0)
    if text[end:].strip():
        raise IoregValueError(f"unexpected {text[end : end + 20]!r} after the value")
    return value


def _value(text: str, pos: int, depth: int) -> tuple[Value, int]:
    if depth > _MAX_DEPTH:
        raise IoregValueError("nested too deeply")
    if pos >= len(text):
        raise IoregValueError("value cut off")
    char = text[pos]
    if char == '"':
        end = text.find('"', pos + 1)
        if end < 0:
            raise IoregValueError("string cut off")
        return text[pos + 1 : end], end + 1
    if char == "<":
        end = text.find(">", pos + 1)
        if end < 0:
            raise IoregValueError("data cut off")
        try:
            return bytes.fromhex(text[pos + 1 : end]), end + 1
        except ValueError as exc:
            raise IoregValueError(f"data is not hex: {exc}") from exc
    if char == "{":
        return _dict(text, pos + 1, depth)
    if char == "(":
        return _list(text, pos + 1, depth)
    for word, flag in (("Yes", True), ("No", False)):
        if text.startswith(word, pos):
            return flag, pos + len(word)
    number = _NUMBER.match(text, pos)
    if number:
        return int(number.group()), number.end()
    raise IoregValueError(f"unknown value at {text[pos : pos + 20]!r}")


def _dict(text: str, pos: int, depth: int) -> tuple[dict[str, Value], int]:
    result: dict[str, Value] = {}
    if text.startswith("}", pos):
        return result, pos + 1
    while True:
        key, pos = _value(text, pos, depth + 1)
        if not isinstance(key, str) or not text.startswith("=", pos):
            raise IoregValueError("dictionary entry without a quoted key and '='")
        result[key], pos = _value(text, pos + 1, depth + 1)
        if text.startswith(",", pos):
            pos += 1
        elif text.startswith("}", pos):
            return result, pos + 1
        else:
            raise IoregValueError("dictionary not closed")


def _list(text: str, pos: int, depth: int) -> tuple[list[Value], int]:
    result: list[Value] = []
    if text.startswith(")", pos):
        return result, pos + 1
    while True:
        item, pos = _value(text, pos, depth + 1)
        result.append(item)
        if text.startswith(",", pos):
            pos += 1
        elif text.startswith(")", pos):
            return result, pos + 1
        else:
            raise IoregValueError("list not closed")


# --- displays ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IoregDisplay:
    """A display as the registry describes it; None wherever the node does not say."""

    label: str  # the node, for error messages ("AppleCLCD2 0x1000002b7")
    internal: bool | None
    vendor_pnp: str | None
    product_code: int | None  # the EDID product code (16 bits)
    serial_number: int | None  # the EDID's numeric serial (bytes 12-15); None when zero
    serial: str | None  # the serial printed on the case when given, else the number
    name: str | None
    year: int | None
    year_is_model_year: bool | None
    width_cm: int | None
    height_cm: int | None
    diagonal_in: float | None
    native_width_px: int | None
    native_height_px: int | None
    # The pipe's current pixel size (AppleCLCD2 DisplayWidth/DisplayHeight).
    pixels: tuple[int, int] | None
    connector: str | None  # "DP", "HDMI": the link, where the node names it
    analog: bool | None


@dataclass(frozen=True)
class IoregDisplays:
    displays: list[IoregDisplay]
    # What could not be read, one sentence each, for collection.errors.
    problems: list[str]
    # Registry entries found at all: zero means the command matched nothing on this Mac.
    nodes: int


def parse_displays(text: str) -> IoregDisplays:
    """The displays of ``ioreg -c AppleCLCD2 …`` or ``ioreg -c AppleDisplay …`` output."""
    nodes = parse_nodes(text)
    displays: list[IoregDisplay] = []
    problems: list[str] = []
    for node in nodes:
        if "IODisplayEDID" in node.raw:
            display = _from_edid(node, problems)
        elif "DisplayAttributes" in node.raw:
            display = _from_attributes(node, problems)
        else:
            continue
        if display is not None:
            displays.append(display)
    return IoregDisplays(displays, problems, len(nodes))


def _get(node: Node, key: str, problems: list[str]) -> Value | None:
    try:
        return node.value(key)
    except IoregValueError as exc:
        problems.append(f"{node.label}: {key} unreadable ({exc})")
        return None


def _int(value: Value | None, low: int = 0, high: int = 2**63 - 1) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None


def _str(value: Value | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _pnp(word: int | None) -> str | None:
    """The EDID manufacturer word (0x10ac) as its three letters (DEL)."""
    if word is None or not 0 < word <= 0x7FFF:
        return None
    letters = [word >> shift & 0x1F for shift in (10, 5, 0)]
    if not all(1 <= x <= 26 for x in letters):
        return None
    return "".join(chr(64 + x) for x in letters)


def _diagonal(width_cm: int, height_cm: int) -> float:
    return round(math.hypot(width_cm, height_cm) / 2.54, 1)


def _from_attributes(node: Node, problems: list[str]) -> IoregDisplay | None:
    attributes = _get(node, "DisplayAttributes", problems)
    if not isinstance(attributes, dict):
        if attributes is not None:
            problems.append(f"{node.label}: DisplayAttributes is not a dictionary")
        return None
    product = attributes.get("ProductAttributes")
    product = product if isinstance(product, dict) else {}
    vendor = _pnp(_int(product.get("LegacyManufacturerID")))
    if vendor is None:
        # "DEL" on external displays; the built-in panel has an OUI here ("00-10-fa").
        maker = _str(product.get("ManufacturerID"))
        vendor = maker if maker and re.fullmatch(r"[A-Z]{3}", maker) else None
    serial_number = _int(product.get("SerialNumber"), 1, 0xFFFFFFFF)
    serial = _str(product.get("AlphanumericSerialNumber"))
    # Both sizes come from one EDID byte each; 0 means "not given" (projectors, TVs).
    width = _int(attributes.get("MaxHorizontalImageSize"), 1, 255)
    height = _int(attributes.get("MaxVerticalImageSize"), 1, 255)
    if width is None or height is None:
        width = height = None
    native_w = _int(attributes.get("NativeFormatHorizontalPixels"), 1, 100_000)
    native_h = _int(attributes.get("NativeFormatVerticalPixels"), 1, 100_000)
    pixels_w = _int(_get(node, "DisplayWidth", problems), 1, 100_000)
    pixels_h = _int(_get(node, "DisplayHeight", problems), 1, 100_000)
    transport = _get(node, "Transport", problems)
    connector = _str(transport.get("Downstream")) if isinstance(transport, dict) else None
    return IoregDisplay(
        label=node.label,
        internal=_clcd_internal(node, problems),
        vendor_pnp=vendor,
        # Apple's own panels carry a 48-bit product number here, not an EDID product code.
        product_code=_int(product.get("ProductID"), 0, 0xFFFF),
        serial_number=serial_number,
        serial=serial or (str(serial_number) if serial_number else None),
        name=_str(product.get("ProductName")),
        year=_int(product.get("YearOfManufacture"), 1990, 2255),
        year_is_model_year=None,
        width_cm=width,
        height_cm=height,
        diagonal_in=_diagonal(width, height) if width and height else None,
        native_width_px=native_w if native_w and native_h else None,
        native_height_px=native_h if native_w and native_h else None,
        pixels=(pixels_w, pixels_h) if pixels_w and pixels_h else None,
        connector=connector,
        analog=None,
    )


def _clcd_internal(node: Node, problems: list[str]) -> bool | None:
    # The driver matches the built-in panel's pipe as "disp0,<soc>" and the external ones as
    # "dispext<n>,<soc>"; only external pipes say "external" = Yes.
    matched = _str(_get(node, "IONameMatched", problems))
    if matched and matched.startswith("disp0,"):
        return True
    if (matched and matched.startswith("dispext")) or _get(node, "external", problems) is True:
        return False
    return None


def _from_edid(node: Node, problems: list[str]) -> IoregDisplay | None:
    data = _get(node, "IODisplayEDID", problems)
    if not isinstance(data, bytes):
        if data is not None:
            problems.append(f"{node.label}: IODisplayEDID is not data")
        return None
    try:
        edid = parse_edid(data[: MAX_EDID_BYTES + 1])
    except EdidError as exc:
        problems.append(f"{node.label}: invalid IODisplayEDID: {exc}")
        return None
    if not edid.checksum_ok:
        problems.append(f"{node.label}: EDID checksum mismatch; values decoded anyway")
    internal = {"AppleBacklightDisplay": True, "AppleDisplay": False}.get(node.io_class or "")
    serial_number = int.from_bytes(data[12:16], "little") or None
    return IoregDisplay(
        label=node.label,
        internal=internal,
        vendor_pnp=edid.vendor_pnp,
        product_code=edid.product_code,
        serial_number=serial_number,
        serial=edid.serial,
        name=edid.name,
        year=edid.year if edid.year is not None and 1990 <= edid.year <= 2255 else None,
        year_is_model_year=edid.year_is_model_year,
        width_cm=edid.width_cm,
        height_cm=edid.height_cm,
        diagonal_in=edid.diagonal_in,
        native_width_px=edid.native_width_px,
        native_height_px=edid.native_height_px,
        pixels=None,
        connector=None,
        analog=edid.analog,
    )
