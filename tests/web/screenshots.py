"""The README's pictures of the web UI, taken by the tests' browser on the tests' demo fleet:
``.venv/bin/python -m tests.web.screenshots`` writes docs/web-overview.png,
docs/web-hosts.png, docs/web-host.png, docs/web-budget.png, docs/web-ergonomics.png and
docs/web-compliance.png (German, 1280 px wide; the budget as a planner sees it)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.web.conftest import ensure_npm_packages, launch, log_in, serving
from tests.web.fleet import build

DOCS = Path(__file__).parents[2] / "docs"


def main() -> None:
    from playwright.sync_api import sync_playwright

    ensure_npm_packages()
    with tempfile.TemporaryDirectory() as tmp:
        fleet = build(f"sqlite:///{tmp}/fleet.db", Path(tmp))
        host = fleet.hosts["gsn-lehrer-01"]
        shots = {
            "web-overview.png": "/",
            "web-hosts.png": "/hosts?site=Grundschule+Nord",
            "web-host.png": f"/hosts/{host}#findings",
            "web-ergonomics.png": "/ergonomics",
            "web-compliance.png": "/compliance",
        }
        with serving(fleet) as server, sync_playwright() as p:
            browser = launch(p)
            page = browser.new_context(
                viewport={"width": 1280, "height": 900}, locale="de-DE",
                extra_http_headers={"Accept-Language": "de"},
            ).new_page()  # fmt: skip
            log_in(page, server)
            for name, path in shots.items():
                page.goto(server.url + path)
                page.screenshot(path=str(DOCS / name), full_page=name == "web-hosts.png")
                print(DOCS / name)
            planner = browser.new_context(
                viewport={"width": 1280, "height": 1100}, locale="de-DE",
                extra_http_headers={"Accept-Language": "de"},
            ).new_page()  # fmt: skip
            log_in(planner, server, "planner")
            planner.goto(server.url + "/budget?cycle_laptop=5")
            planner.screenshot(path=str(DOCS / "web-budget.png"))
            print(DOCS / "web-budget.png")
            browser.close()


if __name__ == "__main__":
    main()
