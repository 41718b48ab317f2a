"""Registry export files (``.reg``), as regedit writes and reads them.

``Windows Registry Editor Version 5.00`` files are UTF-16LE with a byte-order mark when
regedit writes them; UTF-8 (with or without a mark) and the older ``REGEDIT4`` header are read
too. A file is a list of key headers (``[HKEY_LOCAL_MACHINE\\SOFTWARE\\...]``), each followed by
its values: ``"name"="text"``, ``@=`` for the key's default value, ``dword:0000000a``,
``hex:..`` (binary) and ``hex(N):..`` for every other type, with long hex lists continued by a
trailing backslash. ``[-KEY]`` deletes a key and ``"name"=-`` a value: in a support bundle
they mean "read, and absent on the recorded machine".

Key and value names are case-insensitive in Windows; lookups here are too. The parser is
pure; bad input raises :class:`RegFileError` naming the line.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

# Value types (winreg's constants; the numbers are Windows' own).
REG_NONE = 0
REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3
REG_DWORD = 4
REG_MULTI_SZ = 7
REG_QWORD = 11

HEADER_5 = "Windows Registry Editor Version 5.00"
HEADER_4 = "REGEDIT4"
HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKEY_LOCAL_MACHINE": "HKEY_LOCAL_MACHINE",
    "HKU": "HKEY_USERS",
    "HKEY_USERS": "HKEY_USERS",
    "HKCU": "HKEY_CURRENT_USER",
    "HKEY_CURRENT_USER": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKEY_CLASSES_ROOT": "HKEY_CLASSES_ROOT",
    "HKCC": "HKEY_CURRENT_CONFIG",
    "HKEY_CURRENT_CONFIG": "HKEY_CURRENT_CONFIG",
}
# A key name is at most 255 characters and a path 512 levels deep; a file much larger than a
# real export (the biggest public one is ~800 KB) is refused before parsing.
MAX_FILE_CHARS = 32 * 1024 * 1024

Data = str | int | bytes | list[str] | None


class RegFileError(ValueError):
    """Not a registry export, or a line that is not one."""


@dataclass(frozen=True)
class RegValue:
    type: int
    data: Data


@dataclass
class RegKey:
    path: str  # as written, with the full hive name
    values: dict[str, tuple[str, RegValue]] = field(default_factory=dict)  # folded -> (name, v)
    deleted_values: set[str] = field(default_factory=set)  # folded names


@dataclass
class RegFile:
    keys: dict[str, RegKey] = field(default_factory=dict)  # folded path -> key
    deleted: dict[str, str] = field(default_factory=dict)  # folded path -> path

    def key(self, path: str) -> RegKey | None:
        return self.keys.get(fold(path))


def normalize(path: str) -> str:
    """``HKLM\\A\\B`` -> ``HKEY_LOCAL_MACHINE\\A\\B``; refuses an unknown hive."""
    parts = [p for p in path.strip().strip("\\").split("\\") if p]
    if not parts or parts[0].upper() not in HIVES:
        raise RegFileError(f"not a registry path: {path[:200]!r}")
    return "\\".join([HIVES[parts[0].upper()], *parts[1:]])


def fold(path: str) -> str:
    return normalize(path).casefold()


def decode(data: bytes) -> str:
    """The text of an export: UTF-16 with its mark (regedit), else UTF-8."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    else:
        text = data.decode("utf-8-sig")
    # Several public exports begin with two marks (the file was concatenated once).
    return text.lstrip("\ufeff")


def parse(data: bytes | str) -> RegFile:
    text = decode(data) if isinstance(data, bytes) else data.lstrip("\ufeff")
    if len(text) > MAX_FILE_CHARS:
        raise RegFileError(f"{len(text)} characters, more than any registry export")
    lines = _logical_lines(text)
    if not lines or lines[0][1].strip() not in (HEADER_5, HEADER_4):
        raise RegFileError("no 'Windows Registry Editor Version 5.00' header")
    reg = RegFile()
    current: RegKey | None = None
    for number, line in lines[1:]:
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith("["):
            current = _header(reg, stripped, number)
            continue
        if current is None:
            raise RegFileError(f"line {number}: a value outside any key")
        name, value = _value(stripped, number)
        folded = name.casefold()
        if value is None:
            current.deleted_values.add(folded)
            current.values.pop(folded, None)
        else:
            current.values[folded] = (name, value)
    return reg


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with continuations joined, numbered from 1: a hex list continued by a trailing
    backslash, and a string value with line breaks in it (regedit writes them as they are,
    as in the Comments of Windows XP's Uninstall keys)."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str, str] | None = None  # (first line, text so far, joiner)
    for physical, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        number = physical
        if pending is not None:
            number, start, joiner = pending
            if joiner == "" and not line.strip():
                raise RegFileError(f"line {number}: a continued hex list ends in an empty line")
            line = start + (line.strip() if joiner == "" else joiner + line)
            pending = None
        if _open_string(line):
            pending = (number, line, "\n")
            continue
        line = line.rstrip()
        # A hex list is continued by a backslash; every other value ends in '"' or a digit.
        if line.endswith("\\") and not line.lstrip().startswith("["):
            pending = (number, line[:-1], "")
            continue
        out.append((number, line))
    if pending is not None:
        raise RegFileError(f"line {pending[0]}: the file ends inside a value")
    return out


def _open_string(line: str) -> bool:
    """Whether a value line ends inside a quoted string."""
    if not line.startswith(('"', "@")):
        return False
    inside = False
    i = 0
    while i < len(line):
        c = line[i]
        if inside and c == "\\":
            i += 2
            continue
        if c == '"':
            inside = not inside
        i += 1
    return inside


def _header(reg: RegFile, line: str, number: int) -> RegKey | None:
    if not line.endswith("]"):
        raise RegFileError(f"line {number}: key header without ']'")
    inner = line[1:-1]
    if inner.startswith("-"):
        path = normalize(inner[1:])
        reg.deleted[path.casefold()] = path
        reg.keys.pop(path.casefold(), None)
        return None
    try:
        path = normalize(inner)
    except RegFileError as exc:
        raise RegFileError(f"line {number}: {exc}") from None
    reg.deleted.pop(path.casefold(), None)
    return reg.keys.setdefault(path.casefold(), RegKey(path))


_HEX = re.compile(r"^hex(?:\(([0-9a-fA-F]+)\))?:([0-9a-fA-F,\s]*)$")


def _value(line: str, number: int) -> tuple[str, RegValue | None]:
    if line.startswith("@="):
        name, rest = "", line[2:]
    elif line.startswith('"'):
        name, end = _quoted(line, 0, number)
        if not line[end:].startswith("="):
            raise RegFileError(f"line {number}: no '=' after the value name")
        rest = line[end + 1 :]
    else:
        raise RegFileError(f"line {number}: not a value: {line[:80]!r}")
    rest = rest.strip()
    if rest == "-":
        return name, None
    if rest.startswith('"'):
        text, end = _quoted(rest, 0, number)
        if rest[end:].strip():
            raise RegFileError(f"line {number}: text after the string value")
        return name, RegValue(REG_SZ, text)
    if rest.lower().startswith("dword:"):
        digits = rest[6:].strip()
        if not re.fullmatch(r"[0-9a-fA-F]{1,8}", digits):
            raise RegFileError(f"line {number}: bad dword {digits[:20]!r}")
        return name, RegValue(REG_DWORD, int(digits, 16))
    match = _HEX.match(rest)
    if match is None:
        raise RegFileError(f"line {number}: unknown value form {rest[:40]!r}")
    kind = int(match.group(1), 16) if match.group(1) else REG_BINARY
    items = [b for b in re.split(r"[,\s]+", match.group(2)) if b]
    if any(len(b) > 2 for b in items):
        raise RegFileError(f"line {number}: a hex byte with more than two digits")
    raw = bytes(int(b, 16) for b in items)
    return name, RegValue(kind, _typed(kind, raw, number))


def _quoted(line: str, start: int, number: int) -> tuple[str, int]:
    """The string starting at ``line[start] == '"'`` (with ``\\\\`` and ``\\"``), and the
    index after its closing quote."""
    out = []
    i = start + 1
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            out.append(line[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise RegFileError(f"line {number}: unterminated string")


def _typed(kind: int, raw: bytes, number: int) -> Data:
    """``hex(N)`` bytes as the value Windows' API gives for that type."""
    if kind in (REG_SZ, REG_EXPAND_SZ):
        return _utf16(raw, number).split("\x00", 1)[0]
    if kind == REG_MULTI_SZ:
        return [s for s in _utf16(raw, number).split("\x00") if s]
    # Windows stores what a program wrote: a real export has a "dword" of eight bytes
    # (HARDWARE\...\CentralProcessor\0\FeatureSet on Server 2008); such data stays bytes.
    if (kind, len(raw)) in ((REG_DWORD, 4), (REG_QWORD, 8)):
        return int.from_bytes(raw, "little")
    return raw


def _utf16(raw: bytes, number: int) -> str:
    if len(raw) % 2:
        raise RegFileError(f"line {number}: UTF-16 text of odd length")
    return raw.decode("utf-16-le", errors="replace")


# --- writing ------------------------------------------------------------------------------


def format_value(name: str, value: RegValue | None) -> str:
    left = "@" if name == "" else _quote(name)
    if value is None:
        return f"{left}=-"
    kind, data = value.type, value.data
    if kind == REG_SZ and isinstance(data, str) and "\x00" not in data:
        # regedit writes a line break inside a string as it writes every line end: "\n"
        # becomes "\r\n" (so a value's "\r\n" is "\r\r\n" in the file); the reader undoes it.
        return f"{left}={_quote(data).replace(chr(10), chr(13) + chr(10))}"
    if kind == REG_DWORD and isinstance(data, int) and 0 <= data < 2**32:
        return f"{left}=dword:{data:08x}"
    raw = _raw(kind, data)
    prefix = "hex:" if kind == REG_BINARY else f"hex({kind:x}):"
    return _wrap(f"{left}={prefix}", raw)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _raw(kind: int, data: Data) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return (data + "\x00").encode("utf-16-le")
    if isinstance(data, list):
        return ("".join(s + "\x00" for s in data) + "\x00").encode("utf-16-le")
    if isinstance(data, int):
        size = 8 if kind == REG_QWORD else 4
        return data.to_bytes(size, "little")
    return b""


def _wrap(start: str, raw: bytes) -> str:
    """regedit's layout: lines of at most 80 characters, continued by a backslash."""
    cells = [f"{b:02x}" for b in raw]
    lines: list[str] = []
    line = start
    for i, cell in enumerate(cells):
        piece = cell + ("," if i < len(cells) - 1 else "")
        if len(line) + len(piece) > 77:
            lines.append(line + "\\")
            line = "  "
        line += piece
    lines.append(line)
    return "\r\n".join(lines)


def format_file(reg: RegFile) -> str:
    out = [HEADER_5, ""]
    for folded in sorted(set(reg.keys) | set(reg.deleted)):
        if folded in reg.deleted:
            out += [f"[-{reg.deleted[folded]}]", ""]
            continue
        key = reg.keys[folded]
        out.append(f"[{key.path}]")
        for _, (name, value) in sorted(key.values.items()):
            out.append(format_value(name, value))
        for name in sorted(key.deleted_values):
            out.append(format_value(name, None))
        out.append("")
    return "\r\n".join(out) + "\r\n"


def encode(text: str) -> bytes:
    """As regedit writes: UTF-16LE with a byte-order mark."""
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
