"""The messages of the web UI as Babel extracts them from the templates and the code: what
both catalogues must translate (tests/web/test_i18n.py fails on any gap)."""

from __future__ import annotations

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

from collector.web.i18n import WEB

METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}


def extracted() -> set[str]:
    """Every msgid (a plural's singular) the web UI's code and templates mark."""
    out: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        WEB, METHOD_MAP, OPTIONS, KEYWORDS
    ):
        out.add(message if isinstance(message, str) else message[0])
    return out
