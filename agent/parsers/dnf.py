"""dnf (4 and 5): pending updates, security advisories, dnf-automatic's configuration."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass

# -q drops the "Last metadata expiration check" chatter; the parser copes with it anyway.
# Exit code 100 means "updates available", 0 "none", anything else an error.
DNF_CHECK_UPDATE_ARGV = ("dnf", "-q", "check-update")
DNF_CHECK_UPDATE_OK = (0, 100)
DNF_UPDATEINFO_SECURITY_ARGV = ("dnf", "-q", "updateinfo", "list", "--security")
RPM_INSTALLTIMES_ARGV = ("rpm", "-qa", "--qf", "%{INSTALLTIME}\\n")

# "Obsoleting Packages" (dnf 4) / "Obsoleting packages" (dnf 5): what follows repeats
# packages already listed (and the ones they replace), so the list ends here.
_OBSOLETING = re.compile(r"^obsoleting packages\s*$", re.IGNORECASE)
# An rpm architecture: x86_64, noarch, i686, aarch64, ppc64le, s390x, armv7hl, ...
_ARCH = re.compile(r"^[A-Za-z0-9_]+$")
# dnf 4: "FEDORA-2021-83fdddca0f Moderate/Sec.  curl-7.76.1-7.fc34.x86_64"
# dnf 5: "FEDORA-2026-12f3f3d569 security Important openssl-libs-1:3.5.9-1.fc44.x86_64 ..."
_SEC_DNF4 = re.compile(r"/Sec\.$")
_BOOLEAN_TRUE = {"1", "yes", "true", "on"}
_BOOLEAN_FALSE = {"0", "no", "false", "off"}


@dataclass(frozen=True)
class DnfUpdate:
    name: str
    arch: str
    available: str
    repo: str


@dataclass(frozen=True)
class DnfAdvisory:
    advisory: str
    severity: str | None
    name: str
    evr: str
    arch: str


def _name_arch(token: str) -> tuple[str, str] | None:
    name, dot, arch = token.rpartition(".")
    if not dot or not name or not _ARCH.match(arch):
        return None
    return name, arch


def parse_check_update(text: str) -> list[DnfUpdate]:
    """`dnf check-update` / `dnf5 check-upgrade` rows: "name.arch  version  repo".

    dnf 4 wraps a row whose name is too long for its column: the name stands alone and the
    version and repository follow on the next line, so tokens are carried over until a row
    has three. Lines that are not rows (headers, "Last metadata expiration check", "Security:"
    notes about the running kernel) do not start with a name.arch token and are skipped.
    """
    updates: list[DnfUpdate] = []
    carry: list[str] = []
    for line in text.splitlines():
        if _OBSOLETING.match(line.strip()):
            break
        tokens = line.split()
        if not tokens:
            carry = []
            continue
        if carry:
            tokens = carry + tokens
            carry = []
        if _name_arch(tokens[0]) is None:
            continue
        if len(tokens) < 3:
            carry = tokens
            continue
        name_arch = _name_arch(tokens[0])
        if name_arch is None or len(tokens) != 3 or not any(c.isdigit() for c in tokens[1]):
            continue
        updates.append(DnfUpdate(name_arch[0], name_arch[1], tokens[1], tokens[2]))
    return updates


def _split_nevra(token: str) -> tuple[str, str, str] | None:
    """name-[epoch:]version-release.arch, e.g. "dhcp-client-12:4.4.2-11.b1.fc34.x86_64"
    -> ("dhcp-client", "12:4.4.2-11.b1.fc34", "x86_64")."""
    name_arch = _name_arch(token)
    if name_arch is None:
        return None
    parts = name_arch[0].rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], f"{parts[1]}-{parts[2]}", name_arch[1]


def parse_updateinfo_security(text: str) -> list[DnfAdvisory]:
    """Security advisories from `dnf updateinfo list --security` (dnf 4 and dnf 5 layouts).

    Without --installed/--all, dnf lists only advisories that apply to newer versions of
    installed packages, i.e. fixes still pending.
    """
    advisories: list[DnfAdvisory] = []
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) < 3:
            continue
        if _SEC_DNF4.search(tokens[1]):
            severity: str | None = tokens[1].split("/", 1)[0]
            package = tokens[2]
        elif len(tokens) >= 4 and tokens[1].lower() == "security":
            severity = tokens[2]
            package = tokens[3]
        else:
            continue
        nevra = _split_nevra(package)
        if nevra is None:
            continue
        if severity in {"None", "Unknown", ""}:
            severity = None
        advisories.append(DnfAdvisory(tokens[0], severity, nevra[0], nevra[1], nevra[2]))
    return advisories


def parse_automatic_apply(text: str) -> bool | None:
    """[commands] apply_updates of /etc/dnf/automatic.conf; absent means dnf's default, no.

    None when the file is not valid INI or the value is not a boolean dnf understands.
    """
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    value = parser.get("commands", "apply_updates", fallback="no").strip().lower()
    if value in _BOOLEAN_TRUE:
        return True
    if value in _BOOLEAN_FALSE:
        return False
    return None


def parse_install_times(text: str) -> int | None:
    """The newest of `rpm -qa --qf '%{INSTALLTIME}\\n'` (seconds since the epoch, UTC)."""
    times = [int(line) for line in (t.strip() for t in text.splitlines()) if line.isdigit()]
    return max(times) if times else None
