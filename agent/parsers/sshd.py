"""OpenSSH server settings: ``sshd -T`` output, or sshd_config(5) files as a fallback.

``sshd -T`` prints the *effective* configuration (defaults, Includes and all) as lowercase
``keyword value`` lines; it needs root (it reads the host keys), so an unprivileged run or a
broken installation falls back to reading the configuration files the way sshd does.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

# OpenSSH's compiled-in defaults (sshd_config(5), OpenSSH >= 7.0) for the keys we report.
DEFAULT_PERMIT_ROOT_LOGIN = "prohibit-password"
DEFAULT_PASSWORD_AUTHENTICATION = True
DEFAULT_PERMIT_EMPTY_PASSWORDS = False

_KEYS = ("permitrootlogin", "permitemptypasswords", "passwordauthentication")
# sshd refuses deeper Include nesting (servconf.c SERVCONF_MAX_DEPTH); so do we, which also
# stops an Include loop.
MAX_INCLUDE_DEPTH = 16


@dataclass(frozen=True)
class SshdSettings:
    # As sshd spells it: yes, no, prohibit-password, without-password (the older name of
    # prohibit-password, still printed by ``sshd -T`` of OpenSSH 9.2), forced-commands-only.
    permit_root_login: str | None
    permit_empty_passwords: bool | None
    password_authentication: bool | None


def _yes_no(value: str | None) -> bool | None:
    if value is None:
        return None
    return {"yes": True, "no": False}.get(value.lower())


def _settings(values: dict[str, str]) -> SshdSettings:
    root = values.get("permitrootlogin")
    return SshdSettings(
        permit_root_login=root.lower() if root else None,
        permit_empty_passwords=_yes_no(values.get("permitemptypasswords")),
        password_authentication=_yes_no(values.get("passwordauthentication")),
    )


def parse_sshd_t(text: str) -> SshdSettings:
    """``sshd -T``: every keyword once, lowercase; missing keys stay unknown (None)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        key, _, value = raw.strip().partition(" ")
        if key in _KEYS and key not in values:
            values[key] = value.strip()
    return _settings(values)


def _split_line(line: str) -> tuple[str, list[str]] | None:
    """One sshd_config line -> (lowercase keyword, arguments); None for blanks and comments.

    sshd allows ``Keyword value``, ``Keyword=value`` and ``Keyword = value``, and
    double-quoted arguments.
    """
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    head = stripped.split(None, 1)
    keyword = head[0]
    rest = head[1] if len(head) > 1 else ""
    if "=" in keyword:
        keyword, _, tail = keyword.partition("=")
        rest = f"{tail} {rest}".strip()
    elif rest.startswith("="):
        rest = rest[1:].strip()
    try:
        args = shlex.split(rest, comments=True, posix=True)
    except ValueError:  # unbalanced quote: sshd would refuse it; take the raw words
        args = rest.split()
    return keyword.lower(), args


def parse_sshd_config(main_text: str, load_include: Callable[[str], list[str]]) -> SshdSettings:
    """sshd_config text plus its ``Include``d files -> the global values sshd would use.

    ``load_include(pattern)`` returns the texts of the files a pattern names, in the
    (lexical) order sshd reads them; relative patterns are relative to /etc/ssh, which the
    caller resolves. As in sshd: the first value of a keyword wins, ``Match`` blocks do not
    set global values (a ``Match`` ends at the next ``Match`` or at the end of the file it
    is in, so a Match inside an included file does not leak into the including file), and
    unset keys get OpenSSH's defaults.
    """
    values: dict[str, str] = {}

    def walk(text: str, depth: int) -> None:
        in_match = False
        for raw in text.splitlines():
            parsed = _split_line(raw)
            if parsed is None:
                continue
            keyword, args = parsed
            if keyword == "match":
                # "Match all" is the documented way back to global scope.
                in_match = not (len(args) == 1 and args[0].lower() == "all")
                continue
            if in_match:
                continue
            if keyword == "include":
                if depth >= MAX_INCLUDE_DEPTH:
                    continue
                for pattern in args:
                    for included in load_include(pattern):
                        walk(included, depth + 1)
                continue
            if keyword in _KEYS and keyword not in values and args:
                values[keyword] = args[0]

    walk(main_text, 0)
    values.setdefault("permitrootlogin", DEFAULT_PERMIT_ROOT_LOGIN)
    values.setdefault("passwordauthentication", "yes" if DEFAULT_PASSWORD_AUTHENTICATION else "no")
    values.setdefault("permitemptypasswords", "yes" if DEFAULT_PERMIT_EMPTY_PASSWORDS else "no")
    return _settings(values)
