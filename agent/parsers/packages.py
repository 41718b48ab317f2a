"""Installed packages from dpkg-query and rpm, in the formats the software probe asks for."""

from __future__ import annotations

import re
from dataclasses import dataclass

DPKG_QUERY_ARGV = (
    "dpkg-query",
    "-W",
    "-f",
    "${db:Status-Abbrev}\\t${binary:Package}\\t${Version}\\t${Maintainer}"
    "\\t${source:Package}\\t${source:Version}\\n",
)
RPM_QA_ARGV = ("rpm", "-qa", "--qf", "%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\t%{VENDOR}\\n")

# "Jane Doe <jane@example.org>": the address is a person's; the project or team name suffices.
_EMAIL = re.compile(r"\s*<[^>]*>")
_ADDRESS = re.compile(r"<[^@>]*@([^>]+)>")
# A package maintained inside a distribution project is published by that project, whoever
# maintains it: the publisher is then the project, not a volunteer's name (which would be
# personal data and, repeated per package, bloat every report).
_DISTRIBUTION_DOMAINS = (
    ("debian.org", "Debian"),
    ("debian.net", "Debian"),
    ("ubuntu.com", "Ubuntu"),
    ("canonical.com", "Ubuntu"),
)


@dataclass(frozen=True)
class Package:
    name: str
    version: str | None
    publisher: str | None
    # dpkg only: the source package and its version (the trackers' names for a fix).
    source: str | None = None
    source_version: str | None = None


def _publisher(value: str) -> str | None:
    match = _ADDRESS.search(value)
    if match:
        domain = match.group(1).strip().lower()
        for suffix, project in _DISTRIBUTION_DOMAINS:
            if domain == suffix or domain.endswith("." + suffix):
                return project
    cleaned = _EMAIL.sub("", value).strip()
    return cleaned or None


def parse_dpkg_query(text: str) -> list[Package]:
    """Lines of DPKG_QUERY_ARGV; only packages whose status is installed ("ii")."""
    packages: list[Package] = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 4 or not fields[0].startswith("ii"):
            continue
        # dpkg before 1.21 (or the old four-field format) names no source: unknown, not
        # guessed from the binary name.
        source = fields[4] if len(fields) > 5 and fields[4] else None
        source_version = fields[5] if len(fields) > 5 and fields[5] else None
        packages.append(
            Package(fields[1], fields[2] or None, _publisher(fields[3]), source, source_version)
        )
    return packages


def parse_rpm_qa(text: str) -> list[Package]:
    packages: list[Package] = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not fields[0]:
            continue
        version = fields[1]
        # rpm prints "(none)" for an unset epoch: the version is then without it.
        if version.startswith("(none):"):
            version = version[len("(none):") :]
        vendor = None if fields[2] == "(none)" else _publisher(fields[2])
        packages.append(Package(fields[0], version or None, vendor))
    return packages
