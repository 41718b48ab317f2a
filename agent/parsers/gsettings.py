"""GNOME screen lock settings from dconf keyfiles and GSettings schema files.

The agent runs as a system service, so it cannot ask a user's session (``gsettings get``
reads the user's own dconf database). What it can read are the machine-wide settings an
administrator rolls out: dconf keyfiles under ``/etc/dconf/db/<db>.d/`` (INI-like,
``[org/gnome/desktop/screensaver]`` then ``lock-enabled=true``, values in GVariant text
form such as ``uint32 300``) and the schema defaults in
``/usr/share/glib-2.0/schemas/*.gschema.xml``. The locks beside the keyfiles
(``<db>.d/locks/``) are not read: no fact of the report depends on them.
"""

from __future__ import annotations

from dataclasses import dataclass

SCREENSAVER = "org/gnome/desktop/screensaver"
SESSION = "org/gnome/desktop/session"


def parse_keyfile(text: str) -> dict[str, dict[str, str]]:
    """A dconf keyfile -> {"org/gnome/desktop/session": {"idle-delay": "uint32 300"}}.

    Group names may also be written with dots (GSettings override files use
    ``[org.gnome.desktop.session]``); both are normalised to the slash form.
    """
    groups: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip().strip("/").replace(".", "/")
            current = groups.setdefault(name, {})
            continue
        if current is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        current[key.strip()] = value.strip()
    return groups


def parse_gvariant_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return {"true": True, "false": False}.get(value.strip().lower())


def parse_gvariant_uint(value: str | None) -> int | None:
    """``uint32 300``, ``300`` or ``@u 300`` -> 300; anything else -> None."""
    if value is None:
        return None
    words = value.strip().split()
    if not words:
        return None
    try:
        number = int(words[-1])
    except ValueError:
        return None
    return number if number >= 0 else None


def parse_gschema_defaults(xml_text: str, schema_id: str) -> dict[str, str]:
    """The ``<default>`` of every key of one schema in a ``*.gschema.xml`` file."""
    # Imported here: only desktops have schema files, and the XML parser is half a MiB of
    # every agent run's memory elsewhere.
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return {}
    defaults: dict[str, str] = {}
    for schema in root.iter("schema"):
        if schema.get("id") != schema_id:
            continue
        for key in schema.iter("key"):
            name, default = key.get("name"), key.find("default")
            if name and default is not None and default.text is not None:
                defaults[name] = default.text.strip()
    return defaults


def parse_profile(text: str) -> list[str]:
    """A dconf profile (``/etc/dconf/profile/user``) -> its system database names in order.

    ``system-db:local`` -> "local"; ``user-db:`` and ``service-db:`` lines are skipped (the
    agent does not read users' databases).
    """
    names: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("system-db:"):
            names.append(line.split(":", 1)[1].strip())
    return names


@dataclass(frozen=True)
class ScreenLockFacts:
    enabled: bool
    timeout_s: int | None
    password: bool


def screen_lock(lock_enabled: bool, idle_delay_s: int, lock_delay_s: int) -> ScreenLockFacts:
    """GNOME's three settings -> what the report says.

    GNOME blanks the screen after ``idle-delay`` seconds of inactivity (0 = never) and, when
    ``lock-enabled``, locks it ``lock-delay`` seconds later. The lock screen always asks for
    the user's password, so ``password`` is simply whether locking is on. A lock that can
    only be started by hand (idle-delay 0) is not an automatic screen lock: enabled False
    and no timeout.
    """
    automatic = lock_enabled and idle_delay_s > 0
    return ScreenLockFacts(
        enabled=automatic,
        timeout_s=idle_delay_s + lock_delay_s if automatic else None,
        password=lock_enabled,
    )
