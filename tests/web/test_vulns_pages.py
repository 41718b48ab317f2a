"""The vulnerability pages on the demo fleet (tests/web/fleet.py matches it against the
real feeds of ../shared/corpus/vulns): what they show is what the queries give, in order,
scoped to the person's organization."""

from __future__ import annotations

import re

import sqlalchemy as sa

from collector.models import Host, table_of
from collector.queries.vulns import fleet_vulns, host_vulns
from tests.web.conftest import Client

_H = table_of(Host)


def _rows(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", r, re.S)]
            for r in rows]  # fmt: skip


def test_the_fleet_page_lists_what_the_query_gives_worst_first(client: Client) -> None:
    assert client.login().status_code == 303
    page = client.http.get("/vulnerabilities")
    assert page.status_code == 200
    assert "Bekannte Schwachstellen" in page.text
    with client.db.engine.connect() as conn:
        fleet = fleet_vulns(conn, None, limit=200)
    rows = _rows(page.text, "vulnerabilities")
    assert len(rows) == len(fleet.items) > 0
    assert [(r[0], r[1]) for r in rows] == [(g.package, g.fixed or "–") for g in fleet.items]
    # Exploited in the wild first: the fleet's Windows hosts miss updates for KEV CVEs.
    assert fleet.items[0].kev and rows[0][4].startswith("CVE-")
    kev_only = _rows(client.http.get("/vulnerabilities?kev=true").text, "vulnerabilities")
    assert kev_only and all(r[4].startswith("CVE-") for r in kev_only)
    assert client.http.get("/vulnerabilities?kev=maybe").status_code == 400


def test_the_host_page_shows_its_worst_vulnerabilities(client: Client) -> None:
    assert client.login().status_code == 303
    with client.db.engine.connect() as conn:
        host_id = (
            conn.execute(
                sa.select(_H.c.id).where(_H.c.os_name.like("%Windows 11%")).order_by(_H.c.id)
            )
            .scalars()
            .first()
        )
        assert host_id is not None
        expected = host_vulns(conn, host_id).items
    page = client.http.get(f"/hosts/{host_id}")
    assert page.status_code == 200
    rows = _rows(page.text, "host-vulns")
    assert len(rows) == min(100, len(expected)) > 0
    assert [r[0] for r in rows] == [v.cve for v in expected[:100]]
    assert rows[0][7].startswith("ja, CISA-Frist")  # KEV first, with CISA's due date


def test_another_organization_sees_none_of_these(client: Client) -> None:
    assert client.login("nachbar").status_code == 303
    page = client.http.get("/vulnerabilities")
    assert page.status_code == 200
    with client.db.engine.connect() as conn:
        mine = fleet_vulns(conn, client.fleet.orgs["Nachbarstadt"]).vulnerable_hosts
        everyone = fleet_vulns(conn, None).vulnerable_hosts
    assert mine < everyone
    assert re.search(rf"auf {mine} Ger&auml;ten|auf {mine} Geräten", page.text)
