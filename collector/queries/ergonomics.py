"""Screen workplaces (``host.role == "workplace"``) that fail an ergonomics check, with what
fixes each failure and what the purchase costs by the budget's rules.

Failures are the current findings of the ergonomics pack (``erg.*``) and of
``life.device.age`` (a device past its replacement cycle). Purchases are those the budget
forecast (collector.budget, the same rules and prices as /budget and GET /api/v1/budget)
plans for the workplace in the given year: a monitor for a notebook without one or for a
desktop whose displays are too small (reason ``ergonomics``), the replacement of a device or
monitor that is due (reason ``age``). Settings (resolution, refresh rate, scaling) and a
missing keyboard or mouse buy nothing by the budget's rules and are said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session

from collector.budget import Lifecycle, build_forecast
from collector.models import Finding, Host, Site, table_of

AGE_CHECK = "life.device.age"
# check -> what fixes it (a key of collector.web.words.ERGONOMICS_FIXES)
FIXES = {
    "erg.display.size": "monitor",
    "erg.notebook.external": "external",
    "erg.display.native-resolution": "setting",
    "erg.display.refresh": "setting",
    "erg.text.size": "setting",
    AGE_CHECK: "replace",
}

_F = table_of(Finding)
_H = table_of(Host)
_S = table_of(Site)


@dataclass(frozen=True)
class Buy:
    category: str
    reason: str  # ergonomics | age
    check: str | None
    unit_price_eur: float


@dataclass
class Workplace:
    host_id: int
    hostname: str | None
    site: str
    site_kind: str
    chassis: str | None
    # check id -> (message en, message de)
    failing: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    purchases: list[Buy] = field(default_factory=list)

    @property
    def cost_eur(self) -> float:
        return round(sum(b.unit_price_eur for b in self.purchases), 2)


def _host_of(key: str) -> int | None:
    """The host a budget device belongs to: ``host:ID`` or ``monitor:ID:...``."""
    parts = key.split(":")
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return None


def failing_workplaces(
    session: Session,
    org_id: int | None,
    lifecycle: Lifecycle,
    *,
    year: int,
    site: str | None = None,
) -> list[Workplace]:
    """Workplaces with at least one failing ergonomics (or age) check, by site and name."""
    query = (
        sa.select(_H.c.id, _H.c.hostname, _S.c.name, _S.c.kind, _H.c.chassis, _F.c.check_id,
                  _F.c.message, _F.c.message_de)
        .join(_S, _S.c.id == _H.c.site_id)
        .join(_F, _F.c.host_id == _H.c.id)
        .where(_H.c.role == "workplace", _F.c.resolved_at.is_(None), _F.c.status == "fail",
               sa.or_(_F.c.category == "ergonomics", _F.c.check_id == AGE_CHECK))
    )  # fmt: skip
    if org_id is not None:
        query = query.where(_H.c.org_id == org_id)
    if site is not None:
        query = query.where(_S.c.name == site)
    found: dict[int, Workplace] = {}
    for host_id, hostname, site_name, kind, chassis, check, en, de in session.connection().execute(
        query
    ):
        place = found.setdefault(host_id, Workplace(host_id, hostname, site_name, kind, chassis))
        place.failing[check] = (en, de)
    if not found:
        return []
    forecast = build_forecast(session, lifecycle, from_year=year, years=1, site=site,
                              org_id=org_id)  # fmt: skip
    for purchase in forecast.purchases:
        host_id = _host_of(purchase.device.key)
        if host_id in found and purchase.year == year:
            price = lifecycle.categories[purchase.device.category].unit_price_eur
            found[host_id].purchases.append(
                Buy(purchase.device.category, purchase.reason, purchase.device.ergonomics, price)
            )
    return sorted(found.values(), key=lambda w: (w.site, w.hostname or "", w.host_id))


CSV_COLUMNS = ("site", "site_kind", "host_id", "hostname", "chassis", "failing_checks",
               "purchases", "cost_eur")  # fmt: skip


def csv_rows(places: list[Workplace]) -> list[list[object]]:
    return [
        [w.site, w.site_kind, w.host_id, w.hostname, w.chassis, " ".join(sorted(w.failing)),
         "; ".join(f"{b.category} ({b.reason})" for b in w.purchases), f"{w.cost_eur:.2f}"]
        for w in places
    ]  # fmt: skip
