"""German and English: no untranslated string, the language chosen as promised, dates and
numbers per language, check texts from the packs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from collector.web.catalog import extracted
from collector.web.i18n import LANGUAGES, LOCALE_DIR, Formats, negotiate
from tests.web.conftest import Client


def _catalogue(lang: str) -> Catalog:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=lang)


def test_every_message_of_the_templates_and_code_is_translated() -> None:
    messages = extracted()
    assert len(messages) > 200 and "Log in" in messages and "Kita" in messages
    for lang in LANGUAGES:
        catalogue = _catalogue(lang)
        ids = {m.id for m in catalogue if m.id}
        assert messages - ids == set(), f"{lang}: not in the catalogue"
        assert ids - messages == set(), f"{lang}: obsolete entries"
        untranslated = sorted(m.id for m in catalogue if m.id and not m.string)
        assert untranslated == [], f"{lang}: untranslated"
        fuzzy = sorted(m.id for m in catalogue if m.id and m.fuzzy)
        assert fuzzy == [], f"{lang}: fuzzy"
    german = {m.id: m.string for m in _catalogue("de") if m.id}
    names = {"Secure Boot", "OpenID Connect"}  # product names, the same in German
    same = sorted(k for k, v in german.items() if k == v and " " in k and k not in names)
    assert same == [], "German text that is still English"


def test_language_choice() -> None:
    assert negotiate(None, None) == "de"
    assert negotiate("en-US,en;q=0.9", None) == "en"
    assert negotiate("fr-FR, en;q=0.5, de;q=0.8", None) == "de"
    assert negotiate("fr, it", None) == "de"
    assert negotiate("en-GB", "de") == "de"  # the switch wins
    assert negotiate("de", "en") == "en"


def test_dates_and_numbers_per_language() -> None:
    zone = ZoneInfo("Europe/Berlin")
    de, en = Formats("de", zone), Formats("en", zone)
    assert de.date(dt.date(2026, 12, 4)) == "04.12.2026"
    assert en.date(dt.date(2026, 12, 4)) == "Dec 4, 2026"
    assert de.number(1234.5) == "1.234,5" and en.number(1234.5) == "1,234.5"
    # Times are shown in the UI's time zone: 23:30 UTC is the next day in Berlin.
    late = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC)
    assert de.datetime(late) == "05.12.2026 00:30"
    assert de.date("2026-12-04T10:00:00Z") == "04.12.2026"  # a report section's text


def test_pages_in_german_by_default_and_english_on_request(client: Client) -> None:
    client.login()
    host = client.fleet.hosts["gsn-lehrer-01"]
    german = client.http.get(f"/hosts/{host}").text
    assert '<html lang="de">' in german and "Betriebssystem" in german
    # Check titles and remediation come from the packs, in the page's language.
    assert "Betriebssystem erhält Sicherheitsupdates des Herstellers" in german
    assert "Auf eine unterstützte Version des Betriebssystems aktualisieren" in german
    english = client.http.get(f"/hosts/{host}", headers={"Accept-Language": "en-GB,en"}).text
    assert '<html lang="en">' in english
    assert "Operating system receives vendor security updates" in english
    assert "Upgrade to a supported operating system release" in english
    assert "Betriebssystem" not in english
    # The switch: a plain link, remembered in a cookie over the browser's wish.
    switched = client.http.get("/lang?lang=en&next=/hosts", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/hosts"
    assert '<html lang="en">' in client.http.get("/", headers={"Accept-Language": "de"}).text
    assert client.http.get("/lang?lang=en&next=https://evil.example/",
                           follow_redirects=False).headers["location"] == "/"  # fmt: skip
