"""The Windows registry behind :class:`agent.context.RegistryReader`: live through the
standard library's ``winreg`` (imported on Windows only, when first used), and answered from
a registry export (``.reg``) for replay.

Views: the 32-bit view of ``HKLM\\SOFTWARE\\X`` is ``HKLM\\SOFTWARE\\WOW6432Node\\X`` (that is
where Windows keeps it, and how regedit exports it), so a recording holds both views in one
file and replay maps a 32-bit read to that path. Other hives and SYSTEM are shared by both
views.
"""

from __future__ import annotations

from typing import Any

from agent.parsers.regfile import RegFile, RegValue, normalize
from agent.sources import NotRecorded, View

# Bounds on what one key may give: the biggest real Uninstall key has ~1,500 subkeys.
MAX_SUBKEYS = 20_000
MAX_VALUES = 10_000

_SOFTWARE = "hkey_local_machine\\software\\"
_WOW = "wow6432node"


def view_path(key: str, view: View) -> str:
    """The path a key of ``view`` has in a registry export (full hive name)."""
    path = normalize(key)
    if view == 32 and path.casefold().startswith(_SOFTWARE):
        rest = path[len(_SOFTWARE) :]
        if not rest.casefold().startswith(_WOW):
            return path[: len(_SOFTWARE)] + "WOW6432Node\\" + rest
    return path


class RegfileRegistry:
    """Answers from a parsed export. A key the export names (or implies, as the parent of a
    key it names) exists; a deleted key (``[-KEY]``) or one below it is absent; anything else
    was not recorded."""

    def __init__(self, reg: RegFile, source: str = "the support bundle") -> None:
        self.reg = reg
        self.source = source
        self.children: dict[str, dict[str, str]] = {}  # folded parent -> folded child -> name
        for key in reg.keys.values():
            parts = key.path.split("\\")
            for depth in range(1, len(parts)):
                parent = "\\".join(parts[:depth]).casefold()
                self.children.setdefault(parent, {})[parts[depth].casefold()] = parts[depth]

    def _state(self, key: str, view: View) -> tuple[str, str]:
        path = view_path(key, view)
        folded = path.casefold()
        if folded in self.reg.keys or folded in self.children:
            return folded, "present"
        parts = folded.split("\\")
        for depth in range(len(parts), 0, -1):
            if "\\".join(parts[:depth]) in self.reg.deleted:
                return folded, "absent"
        raise NotRecorded(f"{path} is not in {self.source}")

    def values(self, key: str, view: View = 64) -> dict[str, RegValue] | None:
        folded, state = self._state(key, view)
        if state == "absent":
            return None
        found = self.reg.keys.get(folded)
        return {} if found is None else dict(found.values.values())

    def subkeys(self, key: str, view: View = 64) -> list[str] | None:
        folded, state = self._state(key, view)
        if state == "absent":
            return None
        present = self.children.get(folded, {})
        return sorted(
            name for child, name in present.items() if f"{folded}\\{child}" not in self.reg.deleted
        )


class LiveRegistry:
    """``winreg`` on Windows; KEY_WOW64_64KEY or KEY_WOW64_32KEY selects the view."""

    def __init__(self) -> None:
        self._winreg: Any = None

    def _api(self) -> Any:
        if self._winreg is None:
            import winreg  # noqa: PLC0415 - Windows only, and only when a probe reads

            self._winreg = winreg
        return self._winreg

    def _open(self, key: str, view: View) -> Any:
        winreg = self._api()
        hive_name, _, sub = normalize(key).partition("\\")
        hive = getattr(winreg, hive_name)
        flag = winreg.KEY_WOW64_32KEY if view == 32 else winreg.KEY_WOW64_64KEY
        try:
            return winreg.OpenKey(hive, sub, 0, winreg.KEY_READ | flag)
        except FileNotFoundError:
            return None

    def values(self, key: str, view: View = 64) -> dict[str, RegValue] | None:
        handle = self._open(key, view)
        if handle is None:
            return None
        winreg = self._api()
        with handle:
            count = min(winreg.QueryInfoKey(handle)[1], MAX_VALUES)
            out: dict[str, RegValue] = {}
            for i in range(count):
                name, data, kind = winreg.EnumValue(handle, i)
                out[name] = RegValue(kind, _data(data))
            return out

    def subkeys(self, key: str, view: View = 64) -> list[str] | None:
        handle = self._open(key, view)
        if handle is None:
            return None
        winreg = self._api()
        with handle:
            count = min(winreg.QueryInfoKey(handle)[0], MAX_SUBKEYS)
            return [winreg.EnumKey(handle, i) for i in range(count)]


def _data(data: object) -> str | int | bytes | list[str] | None:
    if isinstance(data, str | int | bytes) or data is None:
        return data
    if isinstance(data, list):
        return [str(s) for s in data]
    return bytes(data) if isinstance(data, bytearray | memoryview) else None
