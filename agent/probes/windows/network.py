"""Network on Windows and macOS: psutil's interfaces and listening sockets (recorded as
library calls, so they replay). Interface kinds are not guessed from names."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.probes.network import interfaces, listening
from agent.schema import InterfaceKind, Network


def _kind(name: str) -> InterfaceKind | None:
    return "loopback" if name.lower().startswith(("lo", "loopback")) else None


def collect(ctx: ProbeContext) -> Network:
    return Network(interfaces=interfaces(ctx, _kind), listening=listening(ctx))
