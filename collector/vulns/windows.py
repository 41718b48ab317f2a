"""Windows: the product name MSRC uses for a host ("Windows 11 Version 23H2 for x64-based
Systems"), and a CVE's state by the host's installed updates, following supersedence.

A cumulative update replaces the previous ones: a host with KB5032190 installed has what
KB5031354 fixed though systeminfo names only the newer one. A CVE is open on a host when none
of the updates fixing it for its product is installed or replaced by an installed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Build number -> feature update, as MSRC names them (Windows 10, 11; servers by build).
_WINDOWS_10 = {
    10240: None,
    10586: "1511",
    14393: "1607",
    15063: "1703",
    16299: "1709",
    17134: "1803",
    17763: "1809",
    18362: "1903",
    18363: "1909",
    19041: "2004",
    19042: "20H2",
    19043: "21H1",
    19044: "21H2",
    19045: "22H2",
}
_WINDOWS_11 = {22000: "21H2", 22621: "22H2", 22631: "23H2", 26100: "24H2", 26200: "25H2"}
_SERVERS = {
    14393: "Windows Server 2016",
    17763: "Windows Server 2019",
    20348: "Windows Server 2022",
    26100: "Windows Server 2025",
}


def _architecture(arch: str | None) -> str | None:
    text = (arch or "").casefold()
    if "arm64" in text or "aarch64" in text:
        return "ARM64-based Systems"
    if any(word in text for word in ("x64", "amd64", "x86_64", "64-bit")):
        return "x64-based Systems"
    if any(word in text for word in ("x86", "32-bit", "i686", "i386")):
        return "32-bit Systems"
    return None


def product(name: str | None, build: str | None, arch: str | None) -> str | None:
    """MSRC's product name, or None where the host's OS, build or architecture is unknown
    (or a Windows MSRC names differently): then nothing is matched rather than guessed."""
    if not name or not build:
        return None
    try:
        number = int(build.split(".")[0])
    except ValueError:
        return None
    if "Server" in name:
        server = _SERVERS.get(number)
        return server if server and server.removeprefix("Windows ") in name else None
    system = _architecture(arch)
    if system is None:
        return None
    if "Windows 11" in name and number in _WINDOWS_11:
        return f"Windows 11 Version {_WINDOWS_11[number]} for {system}"
    if "Windows 10" in name and number in _WINDOWS_10:
        version = _WINDOWS_10[number]
        return (
            f"Windows 10 for {system}"
            if version is None
            else (f"Windows 10 Version {version} for {system}")
        )
    return None


def kb_number(text: str) -> str | None:
    digits = text.strip().upper().removeprefix("KB")
    return digits if digits.isdigit() else None


def covered(installed: Iterable[str], supersedes: Mapping[str, Iterable[str]]) -> set[str]:
    """The installed updates and every update they replace, transitively."""
    seen: set[str] = set()
    todo = [kb for kb in (kb_number(k) for k in installed) if kb]
    while todo:
        kb = todo.pop()
        if kb in seen:
            continue
        seen.add(kb)
        todo.extend(supersedes.get(kb, ()))
    return seen
