"""The overview: per organization, a card per site with the numbers an admin looks at first.

Each number is the length of a list: the hosts list with a HostFilter (collector.queries.hosts,
counted with the very conditions the list uses) or the devices list (unmanaged devices,
collector.discovery). So a number and the list it links to cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from collector.discovery import unmanaged_by_site
from collector.models import Organization, Site
from collector.queries.hosts import HostFilter, counts_by_site

# key -> the hosts it counts. Thresholds as the alert rules have them
# (deploy/prometheus/rules/inventar.rules.yml): silent for more than 3 days, a critical or
# high check failing, a security update pending for more than 30 days, OS support ended,
# connected to an open or WEP WLAN.
HOST_METRICS: dict[str, HostFilter] = {
    "hosts": HostFilter(),
    "silent": HostFilter(silent_days=3),
    "failing": HostFilter(severity=("critical", "high")),
    "pending": HostFilter(pending_days=30),
    "unsupported": HostFilter(support_ended=True),
    "wlan": HostFilter(insecure_wlan=True),
}


@dataclass(frozen=True)
class SiteCard:
    id: int
    name: str
    kind: str
    counts: dict[str, int]  # HOST_METRICS' keys
    unmanaged: int


@dataclass(frozen=True)
class OrgOverview:
    id: int
    name: str
    sites: list[SiteCard]


def overview(session: Session, org_id: int | None) -> list[OrgOverview]:
    """The organizations ``org_id`` sees (one, or all), their sites and each site's numbers."""
    counts = {key: counts_by_site(session, org_id, f) for key, f in HOST_METRICS.items()}
    unmanaged = unmanaged_by_site(session, org_id)
    orgs = select(Organization).order_by(col(Organization.name))
    sites = select(Site).order_by(col(Site.name))
    if org_id is not None:
        orgs = orgs.where(Organization.id == org_id)
        sites = sites.where(Site.org_id == org_id)
    by_org: dict[int, list[SiteCard]] = {}
    for site in session.exec(sites):
        assert site.id is not None
        by_org.setdefault(site.org_id, []).append(
            SiteCard(
                site.id,
                site.name,
                site.kind,
                {key: n.get(site.id, 0) for key, n in counts.items()},
                unmanaged.get(site.id, 0),
            )
        )
    out = []
    for org in session.exec(orgs):
        assert org.id is not None
        if org.id in by_org:
            out.append(OrgOverview(org.id, org.name, by_org[org.id]))
    return out
