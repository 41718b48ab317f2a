"""collector/exports.py: what a spreadsheet would evaluate is written as text (OWASP's CSV
injection advice; XLSX string cells), numbers stay numbers."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from collector.exports import Formula, csv_field, csv_text, xlsx_row

DANGEROUS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tlead", "\rlead", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("text", DANGEROUS)
def test_csv_neutralises_a_leading_formula_character(text: str) -> None:
    assert csv_field(text) == "'" + text
    document = csv_text(["name"], [[text]])
    assert list(csv.reader(io.StringIO(document))) == [["name"], ["'" + text]]


def test_csv_keeps_plain_text_and_numbers() -> None:
    assert csv_field("PC-0815") == "PC-0815"
    assert csv_field("a=b") == "a=b"  # only the first character matters
    assert csv_field(-2) == -2 and csv_field(1.5) == 1.5 and csv_field(None) is None
    assert csv_text(["n"], [[-2]]).splitlines()[1] == "-2"


def test_xlsx_text_is_a_string_cell_and_own_formulas_stay_formulas() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    xlsx_row(sheet, ["name", "count"])
    for text in DANGEROUS:
        xlsx_row(sheet, [text, -2])
    xlsx_row(sheet, ["Summe", Formula("=SUM(B2:B8)")])
    out = io.BytesIO()
    book.save(out)
    xml = zipfile.ZipFile(io.BytesIO(out.getvalue())).read("xl/worksheets/sheet1.xml").decode()
    assert xml.count("<f>") == 1 and "<f>SUM(B2:B8)</f>" in xml
    loaded = load_workbook(io.BytesIO(out.getvalue())).active
    assert loaded is not None
    rows = list(loaded.iter_rows(min_row=2))
    for row, text in zip(rows, DANGEROUS, strict=False):
        # XML reads a carriage return as a line feed (XML 1.0, 2.11 End-of-Line Handling).
        assert (row[0].value, row[0].data_type) == (text.replace("\r", "\n"), "s")
        assert (row[1].value, row[1].data_type) == (-2, "n")
    assert rows[-1][1].data_type == "f"
