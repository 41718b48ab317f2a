"""One severity scale for the vendors' own words: critical, high, medium, low, negligible
(None = the vendor gave none yet)."""

from __future__ import annotations

ORDER = ("critical", "high", "medium", "low", "negligible")
RANK = {name: i for i, name in enumerate(ORDER)}

_WORDS = {
    # MSRC's ratings
    "critical": "critical",
    "important": "high",
    "moderate": "medium",
    "low": "low",
    # Debian's urgencies ("high**": the tracker's guess, still its word) and Ubuntu's priorities
    "high": "high",
    "medium": "medium",
    "negligible": "negligible",
    "unimportant": "negligible",
}


def normalize(word: str | None) -> str | None:
    """The scale's name of a vendor's word; None for "not yet assigned", "end-of-life" and
    words this scale does not know."""
    if not word:
        return None
    return _WORDS.get(word.strip().rstrip("*").strip().casefold())


def rank(severity: str | None) -> int:
    """Sort key: critical first, unknown last."""
    return RANK.get(severity or "", len(ORDER))
