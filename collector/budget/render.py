"""Output formats of the forecast: table, csv, json, xlsx (openpyxl), png (matplotlib).

matplotlib is imported only for ``png`` and always with the Agg backend (no display, no
GUI toolkit); openpyxl only for ``xlsx``.
"""

from __future__ import annotations

import io
import json
from typing import Any

from collector.budget.forecast import AGE_SOURCES, SITE_KINDS, Forecast
from collector.budget.lifecycle import CATEGORIES
from collector.exports import Formula, csv_text, xlsx_cell, xlsx_row

FORMATS = ("table", "csv", "json", "xlsx", "png")
BINARY_FORMATS = ("xlsx", "png")
CSV_COLUMNS = (
    "year",
    "site",
    "site_kind",
    "category",
    "reason",
    "count",
    "unit_price_eur",
    "cost_eur",
    "from_purchase",
    "from_bios",
    "from_edid",
)
KIND_LABELS = {
    "school": "Schulen / schools",
    "kindergarten": "Kitas / kindergartens",
    "town-hall": "Rathaus / town hall",
    "other": "Sonstige / other",
}
KIND_COLORS = {
    "school": "#1f77b4",
    "kindergarten": "#ff9f1c",
    "town-hall": "#2ca02c",
    "other": "#8c8c8c",
}


def render(forecast: Forecast, fmt: str, *, devices: bool = False) -> bytes:
    """The forecast in ``fmt``; ``devices`` adds the per-device list (json, xlsx) or is it
    (csv)."""
    if fmt == "table":
        return render_table(forecast).encode("utf-8")
    if fmt == "csv":
        return render_csv(forecast, devices=devices).encode("utf-8")
    if fmt == "json":
        return (json.dumps(forecast.as_json(devices=devices), indent=2) + "\n").encode()
    if fmt == "xlsx":
        return render_xlsx(forecast, devices=devices)
    if fmt == "png":
        return render_png(forecast)
    raise ValueError(f"unknown format {fmt!r}")


def _eur(value: float) -> str:
    return f"{value:,.0f}".replace(",", ".")


def _sources(row: dict[str, Any]) -> str:
    return ", ".join(f"{s} {n}" for s, n in row["age_sources"].items()) or "-"


def render_table(forecast: Forecast) -> str:
    rows = forecast.rows()
    totals = forecast.totals(rows)
    last = forecast.from_year + forecast.years - 1
    head = (
        "year",
        "site",
        "kind",
        "category",
        "reason",
        "count",
        "unit EUR",
        "cost EUR",
        "age from",
    )
    body = [
        (
            str(r["year"]),
            r["site"],
            r["site_kind"],
            r["category"],
            r["reason"],
            str(r["count"]),
            _eur(r["unit_price_eur"]),
            _eur(r["cost_eur"]),
            _sources(r),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    right = {5, 6, 7}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    out = [f"Budget forecast {forecast.from_year}-{last} (EUR, planning prices)", ""]
    out.append(line(head))
    out.extend(line(b) for b in body)
    if not body:
        out.append("(nothing due)")
    out.append("")
    out.append("per year:")
    for y in totals["by_year"]:
        out.append(f"  {y['year']}  {y['count']:>5} devices  {_eur(y['cost_eur']):>12} EUR")
    out.append(f"  total {totals['count']:>5} devices  {_eur(totals['cost_eur']):>12} EUR")
    cycles = ", ".join(
        f"{name} {c.replacement_years} y / {_eur(c.unit_price_eur)} EUR"
        for name, c in forecast.lifecycle.categories.items()
    )
    out.append(f"cycles and prices: {cycles}")
    if totals["unknown_age"]:
        unknown = ", ".join(f"{k} {v}" for k, v in totals["unknown_age"].items())
        out.append(f"not budgeted, age unknown: {unknown}")
    if totals["not_budgeted"]:
        other = ", ".join(f"{k} {v}" for k, v in totals["not_budgeted"].items())
        out.append(f"hosts without a budget category (chassis): {other}")
    return "\n".join(out) + "\n"


def _row(r: dict[str, Any], unit_price: object, cost: object) -> list[object]:
    """A forecast row in CSV_COLUMNS order; price and cost as the format writes them."""
    leading = [r[k] for k in CSV_COLUMNS[: CSV_COLUMNS.index("unit_price_eur")]]
    return [*leading, unit_price, cost, *(r["age_sources"].get(s, 0) for s in AGE_SOURCES)]


def render_csv(forecast: Forecast, *, devices: bool = False) -> str:
    """The rows (as JSON's ``rows``), or with ``devices`` one line per device to buy."""
    if devices:
        listing = forecast.device_list()
        columns = list(listing[0]) if listing else ["year", "site", "category", "reason"]
        return csv_text(columns, ([entry.get(c) for c in columns] for entry in listing))
    return csv_text(
        CSV_COLUMNS,
        (_row(r, f"{r['unit_price_eur']:.2f}", f"{r['cost_eur']:.2f}") for r in forecast.rows()),
    )


def render_xlsx(forecast: Forecast, *, devices: bool = False) -> bytes:
    from openpyxl import Workbook  # noqa: PLC0415  (only this format needs it)
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    rows = forecast.rows()
    years = list(forecast.year_range)
    bold = Font(bold=True)
    money = "#,##0 €"
    book = Workbook()

    # 1. By year: cost per category, totals as formulas.
    sheet = book.active
    assert sheet is not None
    sheet.title = "Nach Jahr - by year"
    xlsx_row(sheet, ["Jahr / year", *CATEGORIES, "Summe / total (EUR)"])
    cost = {(r["year"], r["category"]): 0.0 for r in rows}
    for r in rows:
        cost[(r["year"], r["category"])] += r["cost_eur"]
    last_cat = get_column_letter(1 + len(CATEGORIES))
    for i, year in enumerate(years, start=2):
        xlsx_row(sheet, [year, *(cost.get((year, c), 0.0) for c in CATEGORIES)])
        xlsx_cell(sheet, i, 2 + len(CATEGORIES), Formula(f"=SUM(B{i}:{last_cat}{i})"))
    total_row = _sum_row(sheet, rows=len(years), first_col=2, last_col=2 + len(CATEGORIES))
    _style(sheet, bold, money, first_money_col=2, total_row=total_row)

    # 2. By site: cost per site and year.
    sheet = book.create_sheet("Nach Standort - by site")
    xlsx_row(sheet, ["Standort / site", "Art / kind", *years, "Summe / total (EUR)"])
    by_site: dict[tuple[str, str], dict[int, float]] = {}
    for name, kind in forecast.sites:
        by_site[(name, kind)] = {}
    for r in rows:
        per_year = by_site.setdefault((r["site"], r["site_kind"]), {})
        per_year[r["year"]] = per_year.get(r["year"], 0.0) + r["cost_eur"]
    last_year_col = get_column_letter(2 + len(years))
    for i, ((name, kind), per_year) in enumerate(sorted(by_site.items()), start=2):
        xlsx_row(sheet, [name, kind, *(per_year.get(y, 0.0) for y in years)])
        xlsx_cell(sheet, i, 3 + len(years), Formula(f"=SUM(C{i}:{last_year_col}{i})"))
    total_row = _sum_row(sheet, rows=len(by_site), first_col=3, last_col=3 + len(years))
    _style(sheet, bold, money, first_money_col=3, total_row=total_row)

    # 3. Rows as in CSV/JSON; cost = count x unit price, as a formula.
    sheet = book.create_sheet("Zeilen - rows")
    xlsx_row(sheet, list(CSV_COLUMNS))
    for i, r in enumerate(rows, start=2):
        xlsx_row(sheet, _row(r, r["unit_price_eur"], Formula(f"=F{i}*G{i}")))
    end = 1 + len(rows)
    total_row = end + 1
    xlsx_cell(sheet, total_row, 1, "Summe / total")
    xlsx_cell(sheet, total_row, 6, Formula(f"=SUM(F2:F{max(end, 2)})"))
    xlsx_cell(sheet, total_row, 8, Formula(f"=SUM(H2:H{max(end, 2)})"))
    _style(sheet, bold, money, first_money_col=7, last_money_col=8, total_row=total_row)

    # 4. Devices (never in the planner's download: host details).
    if devices:
        sheet = book.create_sheet("Geräte - devices")
        listing = forecast.device_list()
        columns = list(listing[0]) if listing else ["year", "site", "category", "reason"]
        xlsx_row(sheet, columns)
        for entry in listing:
            xlsx_row(sheet, [entry.get(c) for c in columns])
        end = 1 + len(listing)
        price_col = columns.index("unit_price_eur") + 1 if "unit_price_eur" in columns else None
        if price_col:
            letter = get_column_letter(price_col)
            xlsx_cell(sheet, end + 1, 1, "Summe / total")
            xlsx_cell(sheet, end + 1, price_col, Formula(f"=SUM({letter}2:{letter}{max(end, 2)})"))
            _style(sheet, bold, money, price_col, price_col, total_row=end + 1)

    # 5. Parameters: what the figures rest on.
    sheet = book.create_sheet("Parameter")
    xlsx_row(sheet, ["Kategorie / category", "Zyklus / cycle (years)", "Stückpreis / unit (EUR)"])
    for name, c in forecast.lifecycle.categories.items():
        xlsx_row(sheet, [name, c.replacement_years, c.unit_price_eur])
    xlsx_row(sheet, [])
    xlsx_row(sheet, ["Erstes Jahr / first year", forecast.from_year])
    xlsx_row(sheet, ["Jahre / years", forecast.years])
    xlsx_row(sheet, ["Quelle / lifecycle source", forecast.lifecycle.source])
    totals = forecast.totals(rows)
    for key, value in totals["unknown_age"].items():
        xlsx_row(sheet, [f"Alter unbekannt / age unknown: {key}", value])
    for key, value in totals["not_budgeted"].items():
        xlsx_row(sheet, [f"nicht geplant / not budgeted (chassis {key})", value])
    for cell in sheet[1]:
        cell.font = bold
    sheet.column_dimensions["A"].width = 40
    sheet.column_dimensions["B"].width = 24
    sheet.column_dimensions["C"].width = 24

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sum_row(sheet: Any, *, rows: int, first_col: int, last_col: int) -> int:
    """A "Summe / total" row under ``rows`` data rows (row 1 is the header): a SUM formula per
    column from ``first_col`` to ``last_col``; returns its row number."""
    from openpyxl.utils import get_column_letter  # noqa: PLC0415  (only xlsx needs it)

    end = max(1 + rows, 2)  # an empty sheet still gets a valid range
    total_row = 2 + rows
    xlsx_cell(sheet, total_row, 1, "Summe / total")
    for col in range(first_col, last_col + 1):
        letter = get_column_letter(col)
        xlsx_cell(sheet, total_row, col, Formula(f"=SUM({letter}2:{letter}{end})"))
    return total_row


def _style(
    sheet: Any,
    bold: Any,
    money: str,
    first_money_col: int,
    last_money_col: int | None = None,
    *,
    total_row: int,
) -> None:
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    last = last_money_col or sheet.max_column
    for cell in sheet[1]:
        cell.font = bold
    for cell in sheet[total_row]:
        cell.font = bold
    for row in sheet.iter_rows(min_row=2, min_col=first_money_col, max_col=last):
        for cell in row:
            cell.number_format = money
    for col in range(1, sheet.max_column + 1):
        sheet.column_dimensions[get_column_letter(col)].width = 16 if col > 1 else 28
    sheet.freeze_panes = "A2"


def render_png(forecast: Forecast, *, title: str | None = None) -> bytes:
    import matplotlib  # noqa: PLC0415  (only this format needs it)

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    rows = forecast.rows()
    years = list(forecast.year_range)
    kinds = [k for k in SITE_KINDS if any(r["site_kind"] == k for r in rows)]
    kinds += sorted({r["site_kind"] for r in rows} - set(kinds))
    cost = {(k, y): 0.0 for k in kinds for y in years}
    for r in rows:
        cost[(r["site_kind"], r["year"])] += r["cost_eur"]

    fig, ax = plt.subplots(figsize=(10, 6), dpi=110)
    try:
        bottom = [0.0] * len(years)
        for kind in kinds:
            values = [cost[(kind, y)] for y in years]
            ax.bar(
                [str(y) for y in years],
                values,
                bottom=bottom,
                label=KIND_LABELS.get(kind, kind),
                color=KIND_COLORS.get(kind),
                edgecolor="white",
                width=0.65,
            )
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        top = max(bottom) if bottom and max(bottom) > 0 else 1.0
        for i, total in enumerate(bottom):
            ax.annotate(
                f"{_eur(total)} €",
                (i, total),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize=10,
                fontweight="bold",
                family="sans-serif",
            )
        ax.set_ylim(0, top * 1.15)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{_eur(v)} €"))
        ax.set_ylabel("Kosten / cost (EUR)")
        ax.set_xlabel("Haushaltsjahr / budget year")
        ax.set_title(
            title
            or "Ersatzbeschaffung nach Jahr und Standortart\n"
            "Replacement budget per year by site kind",
            fontsize=13,
        )
        cycles = ", ".join(
            f"{name} {c.replacement_years} J./y à {_eur(c.unit_price_eur)} €"
            for name, c in forecast.lifecycle.categories.items()
        )
        fig.text(
            0.5,
            0.01,
            f"Zyklen und Planpreise / cycles and planning prices: {cycles}",
            ha="center",
            fontsize=8,
            color="#555555",
        )
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if kinds:
            ax.legend(title="Standortart / site kind", frameon=False, loc="upper right")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        out = io.BytesIO()
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out.getvalue()
