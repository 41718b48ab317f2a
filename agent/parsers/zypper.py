"""zypper's XML output: pending package updates and needed security patches.

The XML comes from the local zypper and is trusted, but it is parsed with the standard
library's expat, which would expand internal entities; a document declaring a DOCTYPE or an
ENTITY is therefore refused outright (zypper never writes either).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

ZYPPER_LIST_UPDATES_ARGV = ("zypper", "--non-interactive", "--xmlout", "list-updates")
ZYPPER_LIST_SECURITY_PATCHES_ARGV = (
    "zypper",
    "--non-interactive",
    "--xmlout",
    "list-patches",
    "--category",
    "security",
)
# 0: fine; 106 (ZYPPER_EXIT_INF_REPOS_SKIPPED): some repositories could not be refreshed,
# the answer covers the others.
ZYPPER_OK = (0, 106)


# Raised by the parsers on malformed XML; re-exported so callers need not import ElementTree.
ParseError = ET.ParseError


class UnsafeXml(ValueError):
    """The document declares a DOCTYPE or ENTITY, which zypper never does."""


@dataclass(frozen=True)
class ZypperUpdate:
    name: str
    available: str
    installed: str | None  # "edition-old", written by zypper since about 1.14
    arch: str | None


@dataclass(frozen=True)
class ZypperPatch:
    name: str
    edition: str | None
    category: str | None
    severity: str | None
    status: str | None


def _root(text: str) -> ET.Element:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise UnsafeXml("zypper XML with a DOCTYPE or ENTITY declaration refused")
    # Trusted local output, and the declarations that could expand entities are refused above.
    return ET.fromstring(text)


def parse_list_updates(text: str) -> list[ZypperUpdate]:
    """Package updates of `zypper --xmlout list-updates`; patches and products are left out.

    Raises ET.ParseError on malformed XML and UnsafeXml on declarations.
    """
    updates: list[ZypperUpdate] = []
    for element in _root(text).iter("update"):
        if element.get("kind", "package") != "package":
            continue
        name, edition = element.get("name"), element.get("edition")
        if not name or not edition:
            continue
        updates.append(ZypperUpdate(name, edition, element.get("edition-old"), element.get("arch")))
    return updates


def parse_list_patches(text: str) -> list[ZypperPatch]:
    """Patches of `zypper --xmlout list-patches`, one per (name, edition).

    zypper lists a patch once per repository that carries it (a machine with both the CDN
    and the download mirror configured sees each twice); one advisory is one patch.
    """
    patches: dict[tuple[str, str | None], ZypperPatch] = {}
    for element in _root(text).iter("update"):
        if element.get("kind") != "patch":
            continue
        name = element.get("name")
        if not name:
            continue
        key = (name, element.get("edition"))
        patches.setdefault(
            key,
            ZypperPatch(
                name=name,
                edition=element.get("edition"),
                category=element.get("category"),
                severity=element.get("severity"),
                status=element.get("status"),
            ),
        )
    return list(patches.values())
