"""PowerShell's table view (``Format-Table``, and the default view of many CIM classes): a
header line, a line of dashes under each column, then one row per line.

Columns are found from the runs of dashes: a column starts where its dashes start and ends
where the next column starts (the last one takes the rest of the line). Property names in the
header are the class's own, never translated. PowerShell cuts a value that does not fit its
column and ends it with ``...`` (Windows PowerShell) or ``…`` (PowerShell 7): such a value is
not the real one, see :func:`is_cut`.
"""

from __future__ import annotations

import re

_DASHES = re.compile(r"-+")


def is_cut(value: str | None) -> bool:
    """True when PowerShell shortened the value to fit its column."""
    return value is not None and (value.endswith("...") or value.endswith("…"))


def parse_table(text: str) -> list[dict[str, str]]:
    """The rows of the first table in ``text``, as {header: value}; [] when there is none."""
    lines = text.splitlines()
    for i in range(1, len(lines)):
        dashes = lines[i].rstrip()
        if not dashes or set(dashes) - {"-", " "} or not lines[i - 1].strip():
            continue
        spans = [m.start() for m in _DASHES.finditer(dashes)]
        header = lines[i - 1]
        names = [header[start:end].strip() for start, end in _bounds(spans, len(header))]
        if not all(names):
            continue
        rows: list[dict[str, str]] = []
        for line in lines[i + 1 :]:
            if not line.strip():
                break
            rows.append(
                {
                    name: line[start:end].strip()
                    for name, (start, end) in zip(names, _bounds(spans, len(line)), strict=True)
                }
            )
        return rows
    return []


def _bounds(starts: list[int], length: int) -> list[tuple[int, int]]:
    ends = [*starts[1:], max(length, starts[-1])]
    return list(zip(starts, ends, strict=True))
