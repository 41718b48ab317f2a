"""German and English: gettext catalogues (``locale/<lang>/LC_MESSAGES/messages.po``, compiled
with Babel when the app starts: no build product in the repository), one Jinja2 environment
per language, and dates and numbers formatted per language with Babel (04.12.2026, 1.234,5).

German is the default; English when the browser asks for it (Accept-Language) or the person
chose it (the ``inventar_lang`` cookie set by the language switch).
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, select_autoescape

WEB = Path(__file__).parent
LOCALE_DIR = WEB / "locale"
TEMPLATES = WEB / "templates"
LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
LANG_COOKIE = "inventar_lang"


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown (``_()``)."""
    return message


def compile_catalogue(lang: str) -> gettext.GNUTranslations:
    """The language's .po file compiled in memory (Babel's .mo writer)."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def negotiate(accept_language: str | None, cookie: str | None) -> str:
    """The person's choice (cookie), else the first of German or English the browser
    accepts (by q-value), else German."""
    if cookie in LANGUAGES:
        return str(cookie)
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Formats:
    """Dates, times and numbers in one language, times in the UI's time zone."""

    lang: str
    zone: ZoneInfo

    def date(self, value: dt.date | str | None) -> str:
        if isinstance(value, str):  # a date of a stored report section (ISO 8601 text)
            try:
                value = dt.date.fromisoformat(value[:10])
            except ValueError:
                return str(value)
        return format_date(value, "medium", locale=self.lang) if value is not None else ""

    def datetime(self, value: dt.datetime | str | None) -> str:
        if isinstance(value, str):  # a time of a stored report section (ISO 8601 text)
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                return str(value)
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        local = value.astimezone(self.zone)
        day = format_date(local.date(), "medium", locale=self.lang)
        return f"{day} {format_time(local.time(), 'short', locale=self.lang)}"

    def number(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return ""
        return format_decimal(round(value, digits), locale=self.lang)

    def ago(self, value: dt.datetime | None, now: dt.datetime) -> str:
        if value is None:
            return ""
        return format_timedelta(value - now, locale=self.lang, add_direction=True)


@cache
def environment(lang: str) -> Environment:
    """The templates with the language's translations installed (one environment per
    language: a shared one would need per-request state)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(compile_catalogue(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


@cache
def gettext_for(lang: str) -> Callable[[str], str]:
    """``_`` for text that code hands to a template (the words of collector.web.words)."""
    return compile_catalogue(lang).gettext
