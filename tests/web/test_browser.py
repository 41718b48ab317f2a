"""The web UI in real headless Chromium (Debian's, through Playwright) on the demo fleet:
axe-core finds no WCAG 2.1 A/AA violation on any page in German and English; the keyboard
alone reaches every control of a whole task, with a visible focus, with and without
JavaScript; no page scrolls sideways at 320 CSS px; the overview's numbers are the lengths
of the lists they link to."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import AXE, Server, log_in
from tests.web.fleet import PASSWORD

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _pages(server: Server) -> list[str]:
    host = server.fleet.hosts["gsn-lehrer-01"]
    return ["/", "/hosts", f"/hosts/{host}", "/findings", "/devices"]


def _axe(page: Any) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
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
