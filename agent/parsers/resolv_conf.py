"""resolv.conf(5): the configured DNS servers."""

from __future__ import annotations


def nameservers(text: str) -> list[str]:
    servers: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver" and fields[1] not in servers:
            servers.append(fields[1])
    return servers
