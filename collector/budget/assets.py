"""Asset register import: purchase data from a CSV file, linked to hosts by serial number.

Columns (header row required, any order, names case-insensitive): ``serial`` (required
per row), ``asset_tag``, ``purchase_date`` (YYYY-MM-DD or DD.MM.YYYY), ``price_eur``
(``1234.50`` or ``1234,50``, no thousands separators), ``cost_center``. Delimiter ``,`` or
``;`` (German spreadsheets), UTF-8 with or without BOM.

The file is checked completely before anything is stored: every bad row is reported with
its line number and nothing is imported. A serial already in the register is updated
(the file's row replaces the stored values; empty cells clear them).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from collector.audit import Actor, record
from collector.current_state import reference as current_state_reference
from collector.current_state import refresh_facts
from collector.models import Asset, Host, table_of, utcnow

COLUMNS = ("serial", "asset_tag", "purchase_date", "price_eur", "cost_center")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
MAX_ERRORS = 20
MAX_PRICE_EUR = 1_000_000
EARLIEST = dt.date(1980, 1, 1)
_LENGTHS = {"serial": 256, "asset_tag": 128, "cost_center": 128}
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_NUMBER = re.compile(r"^\d+([.,]\d{1,2})?$")


class AssetImportError(Exception):
    """The file cannot be imported; ``errors`` lists each problem with its line number."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class AssetRow:
    line: int
    serial: str
    asset_tag: str | None
    purchase_date: dt.date | None
    price_eur: float | None
    cost_center: str | None


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def parse_assets(data: bytes, today: dt.date | None = None) -> list[AssetRow]:
    """Validate a CSV file; raises AssetImportError listing the problems."""
    if len(data) > MAX_FILE_BYTES:
        raise AssetImportError([f"file is larger than {MAX_FILE_BYTES} bytes"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AssetImportError([f"not UTF-8 text (byte {exc.start})"]) from None
    today = today or dt.date.today()
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise AssetImportError(["the file is empty; expected a header row"]) from None
    except csv.Error as exc:
        raise AssetImportError([f"line 1: {exc}"]) from None
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h not in COLUMNS]
    if unknown or "serial" not in names or len(set(names)) != len(names):
        raise AssetImportError(
            [
                f"line 1: header must name the columns {', '.join(COLUMNS)} (serial required,"
                f" each once); got {', '.join(repr(h) for h in header)}"
            ]
        )
    rows: list[AssetRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                errors.append(f"line {line}: more than {MAX_ROWS} rows")
                break
            row = _row(line, names, record, today, errors)
            if row is None:
                continue
            if row.serial in seen:
                errors.append(f"line {line}: serial {row.serial!r} also on line {seen[row.serial]}")
                continue
            seen[row.serial] = line
            rows.append(row)
            if len(errors) >= MAX_ERRORS:
                break
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: {exc}")
    if errors:
        if len(errors) >= MAX_ERRORS:
            errors.append(f"stopped after {MAX_ERRORS} errors")
        raise AssetImportError(errors)
    return rows


def _row(
    line: int, names: list[str], record: list[str], today: dt.date, errors: list[str]
) -> AssetRow | None:
    if len(record) != len(names):
        errors.append(f"line {line}: {len(record)} fields, the header has {len(names)}")
        return None
    cells = {name: value.strip() for name, value in zip(names, record, strict=True)}
    before = len(errors)
    for name, limit in _LENGTHS.items():
        if len(cells.get(name, "")) > limit:
            errors.append(f"line {line}: {name} longer than {limit} characters")
        if any(ord(c) < 32 for c in cells.get(name, "")):
            errors.append(f"line {line}: {name} contains control characters")
    serial = cells.get("serial", "")
    if not serial:
        errors.append(f"line {line}: serial is empty")
    purchase = _date(cells.get("purchase_date", ""), line, today, errors)
    price = _price(cells.get("price_eur", ""), line, errors)
    if len(errors) > before:
        return None
    return AssetRow(
        line,
        serial,
        cells.get("asset_tag") or None,
        purchase,
        price,
        cells.get("cost_center") or None,
    )


def _date(text: str, line: int, today: dt.date, errors: list[str]) -> dt.date | None:
    if not text:
        return None
    try:
        german = _GERMAN_DATE.match(text)
        if german:
            day, month, year = (int(g) for g in german.groups())
            value = dt.date(year, month, day)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            value = dt.date.fromisoformat(text)
        else:
            raise ValueError
    except ValueError:
        errors.append(
            f"line {line}: purchase_date {text[:40]!r} is not a date (YYYY-MM-DD or DD.MM.YYYY)"
        )
        return None
    if value > today:
        errors.append(f"line {line}: purchase_date {text} is in the future")
        return None
    if value < EARLIEST:
        errors.append(f"line {line}: purchase_date {text} is before {EARLIEST.year}")
        return None
    return value


def _price(text: str, line: int, errors: list[str]) -> float | None:
    if not text:
        return None
    if text.startswith("-"):
        errors.append(f"line {line}: price_eur {text[:40]!r} is negative")
        return None
    if not _NUMBER.match(text):
        errors.append(
            f"line {line}: price_eur {text[:40]!r} is not an amount (e.g. 899.00 or 899,00)"
        )
        return None
    value = float(text.replace(",", "."))
    if value > MAX_PRICE_EUR:
        errors.append(f"line {line}: price_eur {text} exceeds {MAX_PRICE_EUR}")
        return None
    return value


def store_assets(
    session: Session,
    org_id: int,
    rows: list[AssetRow],
    *,
    actor: Actor | None = None,
    source: str | None = None,
) -> ImportResult:
    """Insert or update the rows in one transaction (the caller gets a committed result)."""
    existing = {
        a.serial: a for a in session.exec(select(Asset).where(Asset.org_id == org_id)).all()
    }
    now = utcnow()
    created = updated = 0
    for row in rows:
        asset = existing.get(row.serial)
        if asset is None:
            asset = Asset(org_id=org_id, serial=row.serial)
            created += 1
        else:
            updated += 1
        asset.asset_tag = row.asset_tag
        asset.purchase_date = row.purchase_date
        asset.price_eur = row.price_eur
        asset.cost_center = row.cost_center
        asset.imported_at = now
        session.add(asset)
    session.flush()
    # Purchase dates are the start of life of hosts and monitors: their stored facts follow
    # in the same transaction.
    conn = session.connection()
    hosts = list(conn.execute(sa.select(table_of(Host).c.id).where(
        table_of(Host).c.org_id == org_id)).scalars())  # fmt: skip
    refresh_facts(conn, current_state_reference(), hosts)
    record(session, "assets.import", source, actor=actor, org_id=org_id, created=created,
           updated=updated)  # fmt: skip
    session.commit()
    return ImportResult(created, updated)
