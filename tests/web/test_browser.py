"""The web UI in real headless Chromium (Debian's, through Playwright) on the demo fleet:
axe-core finds no WCAG 2.1 A/AA violation on any page in German and English; the keyboard
alone reaches every control of a whole task, with a visible focus, with and without
JavaScript; no page scrolls sideways at 320 CSS px; the overview's numbers are the lengths
of the lists they link to."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from tests.web.conftest import AXE, Server, log_in
from tests.web.fleet import PASSWORD

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


# The pages of part 2 (issue 18), as an admin of every organization sees them.
NEW_PAGES = [
    "/budget", "/ergonomics", "/wlan", "/compliance",
    "/compliance/detail?site=Grundschule+Nord&ref=BSI+SYS.2.1.A3", "/privacy", "/audit",
    "/admin", "/admin/sites", "/admin/secrets", "/admin/agents", "/admin/people",
    "/admin/tokens", "/admin/ssh", "/admin/waivers", "/account", "/barrierefreiheit",
    "/login/oidc/callback",  # the page of a refused single sign-on
    "/vulnerabilities",  # issue 24
]  # fmt: skip


def _pages(server: Server) -> list[str]:
    host = server.fleet.hosts["gsn-lehrer-01"]
    return ["/", "/hosts", f"/hosts/{host}", "/findings", "/devices", *NEW_PAGES]


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8") + "\n;0"


def _axe(page: Any) -> list[dict[str, Any]]:
    page.evaluate(_axe_source())
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    # Every rule of the tags runs on every element as before; resultTypes only spares axe
    # the node details of what passed (a third of its time), which nothing here reads.
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        AXE_TAGS,
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def _describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} -- "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
        for v in violations
    )


@pytest.mark.parametrize("lang", ["de", "en"])
def test_axe_finds_no_violation_on_any_page(server: Server, context_factory, lang) -> None:
    context = context_factory(extra_http_headers={"Accept-Language": lang})
    page = context.new_page()
    page.goto(f"{server.url}/login")
    assert page.evaluate("document.documentElement.lang") == lang
    found = {"/login": _axe(page)}
    log_in(page, server, "admin")
    for path in _pages(server):
        page.goto(server.url + path)
        assert page.evaluate("document.documentElement.lang") == lang
        found[path] = _axe(page)
    # A page with a form answered: a secret shown once, and a form's error.
    page.goto(server.url + "/admin/secrets")
    page.click("form[action='/admin/secrets'] button[type=submit]")
    page.wait_for_selector("#shown-secret")
    found["/admin/secrets (shown)"] = _axe(page)
    page.goto(server.url + "/admin/sites")
    page.fill("#site-name", "Rathaus Musterstadt")  # exists already: the form's error
    page.click("form[action='/admin/sites'] button[type=submit]")
    page.wait_for_selector(".alert")
    found["/admin/sites (error)"] = _axe(page)
    problems = {path: _describe(v) for path, v in found.items() if v}
    assert problems == {}


VISIBLE_FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  const box = el.getBoundingClientRect();
  return {tag: el.tagName, outline: outline, shadow: !!shadow,
          visible: box.width > 0 && box.height > 0};
}"""


def tab_to(page: Any, selector: str, limit: int = 250) -> None:
    """Presses Tab until the first element matching ``selector`` has the focus; every
    element on the way must show a visible focus indicator (outline or box-shadow)."""
    target = page.locator(selector).first
    left = 0
    for _ in range(limit):
        page.keyboard.press("Tab")
        focus = page.evaluate(VISIBLE_FOCUS)
        if focus is None:  # past the last control: the browser's own UI, then the top again
            left += 1
            assert left <= 1, f"{selector} not reached with Tab in a whole round"
            continue
        assert focus["visible"] and (focus["outline"] or focus["shadow"]), focus
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} not reached with Tab")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_keyboard_walk(server: Server, context_factory, javascript: bool) -> None:
    """Log in, open a site's failing hosts from the overview, open a host, waive a finding,
    log out: with the keyboard alone."""
    page = context_factory(java_script_enabled=javascript).new_page()
    page.goto(f"{server.url}/login")
    tab_to(page, "#username")
    page.keyboard.type("admin")
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    tab_to(page, "form[action='/login'] button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")

    failing = "a[data-metric='failing'][href*='site=Grundschule+Nord']"
    expected = int(page.locator(f"{failing} .n").inner_text())
    tab_to(page, failing)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/hosts\?.*severity=critical.*"))
    assert page.locator("#results tbody tr").count() == expected

    tab_to(page, "#results tbody a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/hosts/\d+$"))

    tab_to(page, "details.waive summary")
    page.keyboard.press("Enter")  # opens the waiver form
    form = "details.waive[open] form"
    check = page.locator(f"{form} input[name=check]").first.get_attribute("value")
    tab_to(page, f"{form} textarea[name=reason]")
    page.keyboard.type("Ersatzgerät ist bestellt")
    tab_to(page, f"{form} input[name=until]")
    page.keyboard.type("30.06.2027")
    tab_to(page, f"{form} button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*saved=waiver.*"))
    waived = page.locator(f"[id='finding-{check}'] .waiver")
    assert "Ersatzgerät ist bestellt" in waived.inner_text()

    tab_to(page, "form[action='/logout'] button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/login.*"))
    page.goto(f"{server.url}/hosts")
    assert "/login" in page.url  # logged out for real


@pytest.mark.parametrize("lang", ["de", "en"])
def test_no_page_scrolls_sideways_at_320_px(server: Server, context_factory, lang) -> None:
    context = context_factory(
        viewport={"width": 320, "height": 640}, extra_http_headers={"Accept-Language": lang}
    )
    page = context.new_page()
    widths = {}
    page.goto(f"{server.url}/login")
    widths["/login"] = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    log_in(page, server)
    for path in _pages(server):
        page.goto(server.url + path)
        widths[path] = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
    too_wide = {p: w for p, w in widths.items() if w[0] > w[1]}
    assert too_wide == {}
    assert all(w[1] == 320 for w in widths.values())


def test_every_overview_number_is_the_length_of_its_list(server: Server, context_factory):
    page = context_factory().new_page()
    log_in(page, server)
    links = page.eval_on_selector_all(
        "a[data-metric]",
        "els => els.map(a => [a.getAttribute('href'), a.dataset.metric,"
        " parseInt(a.querySelector('.n').textContent.replace(/\\D/g, ''))])",
    )
    assert len(links) == 4 * 7  # four sites, seven numbers each
    assert sum(n for _, metric, n in links if metric == "hosts") == 12
    assert any(n for _, metric, n in links if metric not in ("hosts",))
    for href, metric, number in links:
        page.goto(server.url + href)
        if metric == "unmanaged":
            rows = page.locator("table[data-site] tbody tr").count()
        else:
            rows = page.locator("#results tbody tr").count()
            assert page.locator("table.list").count() == (1 if number else 0)
        assert rows == number, (href, metric)


def test_htmx_filters_the_list_in_place_and_moves_the_focus(server: Server, context_factory):
    """With JavaScript, changing a filter replaces only the results (no page load), updates
    the address (bookmarkable) and puts the focus on the new results."""
    page = context_factory().new_page()
    log_in(page, server, next_url="/hosts")
    page.wait_for_url(re.compile(r".*/hosts$"))
    page.evaluate("window.__same_page = true")
    page.select_option("#f-site", "Kita Sonnenschein")
    page.wait_for_url(re.compile(r".*/hosts\?.*site=Kita(\+|%20)Sonnenschein.*"))
    assert "os_version=" not in page.url  # empty fields are left out
    page.wait_for_function("document.activeElement && document.activeElement.id === 'results'")
    assert page.evaluate("window.__same_page") is True  # not reloaded
    assert page.locator("#results tbody tr").count() == 2


def _walk_every_control(page: Any, limit: int = 400) -> int:
    """Tabs from the top of the page through every control until the focus leaves the
    page; each focused element must show a visible focus. Returns how many were reached."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    controls = page.evaluate(
        "document.querySelectorAll('a[href], button, input:not([type=hidden]):not([type=radio]),"
        " select, textarea, [tabindex]:not([tabindex=\\'-1\\'])').length"
        " + new Set([...document.querySelectorAll('input[type=radio]')].map(r => r.name)).size"
    )
    reached = 0
    for _ in range(limit):
        page.keyboard.press("Tab")
        focus = page.evaluate(VISIBLE_FOCUS)
        if focus is None:
            break
        assert focus["visible"] and (focus["outline"] or focus["shadow"]), (page.url, focus)
        reached += 1
    assert reached >= controls, (page.url, reached, controls)  # a radio group is one stop
    return reached


def test_every_new_page_by_keyboard_without_javascript(server: Server, context_factory):
    """Every control of every new page is reached with Tab and shows its focus, with
    JavaScript off (the pages need none)."""
    page = context_factory(java_script_enabled=False).new_page()
    log_in(page, server)
    for path in NEW_PAGES:
        page.goto(server.url + path)
        assert _walk_every_control(page) > 3, path


def _money(text: str) -> float:
    return float(text)


def _evaluate(sheet: Any, value: Any) -> float:
    """A cell's value, computing the workbook's own formulas (=SUM(B2:E2), =F2*G2): what a
    spreadsheet program shows. openpyxl reads formulas, not results."""
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return 0.0
    text = str(value)
    if match := re.fullmatch(r"=SUM\(([A-Z]+)(\d+):([A-Z]+)(\d+)\)", text):
        cells = sheet[f"{match[1]}{match[2]}:{match[3]}{match[4]}"]
        return sum(_evaluate(sheet, c.value) for row in cells for c in row)
    if match := re.fullmatch(r"=([A-Z]+\d+)\*([A-Z]+\d+)", text):
        return _evaluate(sheet, sheet[match[1]].value) * _evaluate(sheet, sheet[match[2]].value)
    raise AssertionError(f"unexpected cell {text!r}")


def test_a_planner_plans_by_keyboard_and_downloads_what_the_page_shows(
    server: Server, context_factory, tmp_path
) -> None:
    """Log in as a planner, open the budget, change the laptop cycle to 5 years, see the
    totals change, download the XLSX: its totals (its own formulas) equal the page's."""
    from openpyxl import load_workbook

    page = context_factory(java_script_enabled=False, accept_downloads=True).new_page()
    page.goto(f"{server.url}/login")
    tab_to(page, "#username")
    page.keyboard.type("planner")
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    tab_to(page, "form[action='/login'] button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")
    tab_to(page, "nav a[href='/budget']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/budget")
    before = _money(page.get_attribute("#budget-total", "data-cost") or "")
    assert page.input_value("#b-cycle-laptop") == "4"  # the shipped cycle
    tab_to(page, "#b-cycle-laptop")
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    tab_to(page, "form[action='/budget'] button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/budget\?.*cycle_laptop=5.*"))
    after = _money(page.get_attribute("#budget-total", "data-cost") or "")
    assert page.input_value("#b-cycle-laptop") == "5"
    assert after != before and after > 0
    years = {
        int(row.locator("th").inner_text()): _money(
            row.locator("[data-year-total]").get_attribute("data-year-total") or ""
        )
        for row in page.locator("#budget-by-year tbody tr").all()
    }
    assert abs(sum(years.values()) - after) < 0.01
    tab_to(page, "a[href^='/budget.xlsx']")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    path = tmp_path / "budget.xlsx"
    download.value.save_as(path)
    book = load_workbook(path)  # opens with openpyxl
    by_year = book["Nach Jahr - by year"]
    rows = list(by_year.iter_rows(min_row=2))
    sheet_years = {int(r[0].value): _evaluate(by_year, r[-1].value) for r in rows
                   if isinstance(r[0].value, int)}  # fmt: skip
    assert sheet_years.keys() == years.keys()
    for year, total in years.items():
        assert abs(sheet_years[year] - total) < 0.01, year
    total_row = rows[-1]
    assert total_row[0].value == "Summe / total"
    assert abs(_evaluate(by_year, total_row[-1].value) - after) < 0.01
    assert abs(_evaluate(by_year, f"=SUM(B{total_row[0].row}:E{total_row[0].row})") - after) < 0.01
    lines = book["Zeilen - rows"]
    last = lines.max_row
    assert abs(_evaluate(lines, lines.cell(last, 8).value) - after) < 0.01
    parameters = {r[0].value: r[1].value for r in book["Parameter"].iter_rows(min_row=2)}
    assert parameters["laptop"] == 5  # the XLSX is the what-if forecast, not the shipped one
