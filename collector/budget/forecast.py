"""The forecast itself, on plain data: devices in, purchases per year out.

Rules (documented for planners in the README, "Budget forecast"):

* A device is due in the year its cycle ends: ``start year + replace_after_years``, where the
  start is the purchase date, else the BIOS date (hosts), else the EDID year of manufacture
  (monitors). A device due before the first planning year is overdue and counts in the first
  year.
* A purchase renews the device: its next replacement falls ``replace_after_years`` after the
  year it was bought (counted in the plan), so a 4-year laptop overdue now appears again
  four years later when that is still inside the window.
* Ergonomics purchases (first year, reason ``ergonomics``): a monitor for a workplace
  notebook without an external one, a larger monitor for a workplace desktop whose displays
  are too small. Replacing a too-small monitor that is due by age in the first year anyway is
  one purchase with reason ``age``; otherwise the ergonomics purchase renews that monitor and
  its age-based replacement moves to first year + cycle.
* A device whose age is unknown is not budgeted (it is counted in ``totals.unknown_age``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from collector.budget.lifecycle import CATEGORIES, Lifecycle

AgeSource = Literal["purchase", "bios", "edid"]
Reason = Literal["age", "ergonomics"]
AGE_SOURCES: tuple[AgeSource, ...] = ("purchase", "bios", "edid")
SITE_KINDS = ("school", "kindergarten", "town-hall", "other")


@dataclass(frozen=True)
class Device:
    """One budgeted device: a host (desktop, laptop, tablet) or an external monitor."""

    key: str
    site: str
    site_kind: str
    category: str
    start: dt.date | None = None
    age_source: AgeSource | None = None
    # The ergonomics check a purchase of this device fixes (None = none fails).
    ergonomics: str | None = None
    # A device that does not exist yet (the monitor a notebook workplace lacks).
    new: bool = False
    hostname: str | None = None
    serial: str | None = None
    model: str | None = None
    asset_tag: str | None = None
    cost_center: str | None = None


@dataclass(frozen=True)
class Purchase:
    year: int
    reason: Reason
    device: Device
    due_year: int | None  # the year its cycle ended (None for ergonomics and new devices)


@dataclass
class Forecast:
    from_year: int
    years: int
    lifecycle: Lifecycle
    purchases: list[Purchase]
    # category -> number of devices whose age is unknown (not budgeted)
    unknown_age: Counter[str] = field(default_factory=Counter)
    # host.chassis (or "unknown") -> number of hosts without a budget category
    not_budgeted: Counter[str] = field(default_factory=Counter)
    sites: list[tuple[str, str]] = field(default_factory=list)

    @property
    def year_range(self) -> range:
        return range(self.from_year, self.from_year + self.years)

    def rows(self) -> list[dict[str, Any]]:
        """Aggregates per (year, site, category, reason), sorted."""
        groups: dict[tuple[int, str, str, str, str], Counter[str]] = {}
        for p in self.purchases:
            key = (p.year, p.device.site, p.device.site_kind, p.device.category, p.reason)
            sources = groups.setdefault(key, Counter())
            sources["count"] += 1
            sources[p.device.age_source or "none"] += 1
        rows = []
        for (year, site, kind, category, reason), c in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1], _cat_order(kv[0][3]), kv[0][4])
        ):
            price = self.lifecycle.categories[category].unit_price_eur
            rows.append(
                {
                    "year": year,
                    "site": site,
                    "site_kind": kind,
                    "category": category,
                    "reason": reason,
                    "count": c["count"],
                    "unit_price_eur": _money(price),
                    "cost_eur": _money(c["count"] * price),
                    "age_sources": {s: c[s] for s in AGE_SOURCES if c[s]},
                }
            )
        return rows

    def totals(self, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        rows = self.rows() if rows is None else rows
        by_year = {y: {"count": 0, "cost_eur": 0.0} for y in self.year_range}
        by_kind: dict[str, float] = {}
        by_category: dict[str, dict[str, float]] = {}
        by_reason: dict[str, dict[str, float]] = {}
        for r in rows:
            by_year[r["year"]]["count"] += r["count"]
            by_year[r["year"]]["cost_eur"] += r["cost_eur"]
            by_kind[r["site_kind"]] = by_kind.get(r["site_kind"], 0.0) + r["cost_eur"]
            for table, key in ((by_category, r["category"]), (by_reason, r["reason"])):
                entry = table.setdefault(key, {"count": 0, "cost_eur": 0.0})
                entry["count"] += r["count"]
                entry["cost_eur"] += r["cost_eur"]
        return {
            "count": sum(r["count"] for r in rows),
            "cost_eur": _money(sum(r["cost_eur"] for r in rows)),
            "by_year": [
                {"year": y, "count": v["count"], "cost_eur": _money(v["cost_eur"])}
                for y, v in by_year.items()
            ],
            "by_site_kind": {k: _money(v) for k, v in sorted(by_kind.items())},
            "by_category": {
                k: {"count": int(v["count"]), "cost_eur": _money(v["cost_eur"])}
                for k, v in sorted(by_category.items(), key=lambda kv: _cat_order(kv[0]))
            },
            "by_reason": {
                k: {"count": int(v["count"]), "cost_eur": _money(v["cost_eur"])}
                for k, v in sorted(by_reason.items())
            },
            "unknown_age": dict(sorted(self.unknown_age.items())),
            "not_budgeted": dict(sorted(self.not_budgeted.items())),
        }

    def parameters(self) -> dict[str, Any]:
        return {
            "from_year": self.from_year,
            "years": self.years,
            "lifecycle": self.lifecycle.as_dict(),
        }

    def as_json(self, *, devices: bool = False) -> dict[str, Any]:
        rows = self.rows()
        out: dict[str, Any] = {
            "rows": rows,
            "totals": self.totals(rows),
            "parameters": self.parameters(),
        }
        if devices:
            out["devices"] = self.device_list()
        return out

    def device_list(self) -> list[dict[str, Any]]:
        """One entry per purchase (host details: for admins and the CLI, never the planner)."""
        out = []
        for p in sorted(
            self.purchases,
            key=lambda p: (p.year, p.device.site, _cat_order(p.device.category), p.device.key),
        ):
            d = p.device
            out.append(
                {
                    "year": p.year,
                    "site": d.site,
                    "site_kind": d.site_kind,
                    "category": d.category,
                    "reason": p.reason,
                    "check": d.ergonomics if p.reason == "ergonomics" else None,
                    "hostname": d.hostname,
                    "serial": d.serial,
                    "model": d.model,
                    "asset_tag": d.asset_tag,
                    "cost_center": d.cost_center,
                    "age_source": d.age_source,
                    "start_date": d.start.isoformat() if d.start else None,
                    "due_year": p.due_year,
                    "unit_price_eur": _money(self.lifecycle.categories[d.category].unit_price_eur),
                }
            )
        return out


def forecast(
    devices: Iterable[Device],
    lifecycle: Lifecycle,
    from_year: int,
    years: int,
    *,
    not_budgeted: Mapping[str, int] | None = None,
    sites: Iterable[tuple[str, str]] = (),
) -> Forecast:
    last = from_year + years - 1
    result = Forecast(from_year, years, lifecycle, [], not_budgeted=Counter(not_budgeted or {}))
    result.sites = sorted(set(sites))
    reason: Reason
    for device in devices:
        cycle = lifecycle.categories[device.category].replacement_years
        if device.new:
            year, reason, due = from_year, "ergonomics", None
        elif device.start is None:
            if device.ergonomics is None:
                result.unknown_age[device.category] += 1
                continue
            year, reason, due = from_year, "ergonomics", None
        else:
            due = device.start.year + cycle
            if device.ergonomics is not None and due > from_year:
                year, reason, due = from_year, "ergonomics", None
            else:
                year, reason = max(due, from_year), "age"
        first = True
        while year <= last:
            result.purchases.append(
                Purchase(year, reason if first else "age", device, due if first else year)
            )
            first = False
            year += cycle
    return result


def _cat_order(category: str) -> int:
    return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)


def _money(value: float) -> float:
    return round(value, 2)
