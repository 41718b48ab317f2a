"""Failure texts: what a failing check says is wrong on this host, in German and English,
built from the facts ("Secure Boot ist ausgeschaltet", "3 Sicherheitsupdates seit 41 Tagen
ausstehend", "Verbunden mit dem offenen WLAN „Kita-Gast“").

A check's ``failure`` is either one text per language or a list of alternatives, each with
an optional ``when`` (a CEL condition); the first alternative whose ``when`` is true (or that
has none) is used, so a check with several ways to fail names the one that applies::

    failure:
      - when: security.smb1 == true
        de: SMBv1 ist eingeschaltet
        en: SMBv1 is enabled
      - de: "Veraltete Dienste lauschen: {{ ... }}"
        en: "Legacy services listen: {{ ... }}"

``{{ expr }}`` is a CEL expression whose value is written in the text's language: numbers
with the language's decimal mark (``4,5`` / ``4.5``; whole numbers without ``,0``), lists
joined with `` / `` (duplicates once), null or an expression that cannot be evaluated as
"unbekannt" / "unknown" — the text is still shown, never a made-up value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cel

LANGS = ("de", "en")
UNKNOWN = {"de": "unbekannt", "en": "unknown"}
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Text:
    """One language's text: literal parts and compiled placeholders (any compiled object
    with ``program`` and ``source``: collector.policy.loader.Expression)."""

    parts: tuple[Any, ...]

    def sources(self) -> list[str]:
        return [p.source for p in self.parts if not isinstance(p, str)]


@dataclass(frozen=True, slots=True)
class Alternative:
    when: Any  # Expression | None
    texts: Mapping[str, Text]

    def sources(self) -> list[str]:
        out = [self.when.source] if self.when is not None else []
        for text in self.texts.values():
            out.extend(text.sources())
        return out


Compile = Callable[[str, str], Any]  # (CEL source, where) -> Expression | None (error noted)


def parse(
    value: object,
    compile_: Compile,
    bad: Callable[[str], None],
    *,
    fallback: bool = True,
    key: str = "failure",
) -> tuple[Alternative, ...]:
    """The ``failure`` (or ``unknown``) field of a check; problems go to ``bad``. With
    ``fallback`` the last alternative must apply always (no ``when``)."""
    items = value if isinstance(value, list) else [value]
    out: list[Alternative] = []
    for index, item in enumerate(items):
        where = f"{key}[{index}]" if isinstance(value, list) else key
        if not isinstance(item, dict):
            bad(f"`{where}` must be a mapping with `de` and `en` (and an optional `when`)")
            continue
        unknown = sorted(set(item) - {"when", *LANGS})
        if unknown:
            bad(f"`{where}`: unknown key(s) {', '.join(unknown)}")
        when = None
        if "when" in item:
            if not isinstance(item["when"], str):
                bad(f"`{where}.when` must be a CEL expression (a string)")
            else:
                when = compile_(item["when"], f"{where}.when")
        texts = {}
        for lang in LANGS:
            text = item.get(lang)
            if not isinstance(text, str) or not text.strip():
                bad(f"`{where}.{lang}` is missing (both languages are required)")
                continue
            texts[lang] = _text(text, f"{where}.{lang}", compile_, bad)
        out.append(Alternative(when, texts))
    if fallback and out and out[-1].when is not None:
        bad(f"the last `{key}` alternative must have no `when` (it is the fallback)")
    return tuple(out)


def _text(text: str, where: str, compile_: Compile, bad: Callable[[str], None]) -> Text:
    parts: list[Any] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        expr = compile_(match.group(1).strip(), f"{where} {{{{{match.group(1).strip()}}}}}")
        parts.append(expr if expr is not None else "")
        position = match.end()
    rest = text[position:]
    if "{{" in rest or "}}" in rest:
        bad(f"`{where}`: unbalanced {{{{ }}}}")
    if rest:
        parts.append(rest)
    return Text(tuple(parts))


def render(alternatives: tuple[Alternative, ...], context: cel.Context) -> dict[str, str] | None:
    """The failure text in every language, or None (no alternative applies: the caller
    falls back to the title)."""
    for alternative in alternatives:
        if alternative.when is not None and _value(alternative.when, context) is not True:
            continue
        return {
            lang: "".join(
                part if isinstance(part, str) else words(_value(part, context), lang)
                for part in text.parts
            ).strip()
            for lang, text in alternative.texts.items()
        }
    return None


def _value(expr: Any, context: cel.Context) -> Any:
    try:
        return expr.program.execute(context)
    except Exception:  # a null fact or a missing key: the text says "unknown"
        return None


def words(value: Any, lang: str) -> str:
    """A value as words of the language."""
    if value is None:
        return UNKNOWN[lang]
    if isinstance(value, bool):
        return {"de": "ja", "en": "yes"}[lang] if value else {"de": "nein", "en": "no"}[lang]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number(value, lang)
    if isinstance(value, dt.datetime):
        return value.strftime("%d.%m.%Y" if lang == "de" else "%Y-%m-%d")
    if isinstance(value, list | tuple):
        shown: list[str] = []
        for item in value:
            text = words(item, lang)
            if text not in shown:
                shown.append(text)
        return " / ".join(shown) if shown else "—"
    return str(value)


def number(value: float, lang: str) -> str:
    """One decimal at most, without a trailing ``,0``; the language's decimal mark."""
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if lang == "de" else text
