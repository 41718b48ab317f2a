"""Budget forecast: what must be replaced, where, when and at what cost.

    lifecycle (policies/data/lifecycle.yaml or --lifecycle FILE, what-if overrides)
    + devices (hosts' current state, asset register, ergonomics findings)  -> Forecast
    -> table | csv | json | xlsx | png

Modules: ``lifecycle`` (configuration), ``assets`` (CSV import of purchase data),
``inventory`` (database -> devices), ``forecast`` (the rules, on plain data), ``render``
(output formats), ``cli`` (`inventar-collector budget`, `inventar-collector assets import`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlmodel import Session

from collector.budget.forecast import Device, Forecast, Purchase, forecast
from collector.budget.inventory import load_inventory
from collector.budget.lifecycle import Lifecycle, LifecycleError, load_lifecycle, parse_overrides

MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_YEARS = 20

__all__ = [
    "Device",
    "Forecast",
    "Lifecycle",
    "LifecycleError",
    "Purchase",
    "build_forecast",
    "forecast",
    "load_lifecycle",
    "parse_overrides",
]


def build_forecast(
    session: Session,
    lifecycle: Lifecycle,
    *,
    from_year: int | None = None,
    years: int = 5,
    site: str | None = None,
    org_id: int | None = None,
    overrides: Mapping[str, int] | None = None,
    now: dt.datetime | None = None,
) -> Forecast:
    """The forecast for the organization ``org_id`` (None = all) from the database."""
    now = now or dt.datetime.now(dt.UTC)
    first = now.year if from_year is None else from_year
    if not MIN_YEAR <= first <= MAX_YEAR:
        raise LifecycleError(f"--from-year must be {MIN_YEAR}..{MAX_YEAR}, not {first}")
    if not 1 <= years <= MAX_YEARS:
        raise LifecycleError(f"--years must be 1..{MAX_YEARS}, not {years}")
    effective = lifecycle.with_overrides(overrides or {})
    inventory = load_inventory(session, effective, org_id=org_id, site=site)
    return forecast(
        inventory.devices,
        effective,
        first,
        years,
        not_budgeted=inventory.not_budgeted,
        sites=inventory.sites,
    )
