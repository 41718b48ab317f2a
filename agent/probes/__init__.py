"""The probes, one module per fact area, and the one place where platforms are dispatched.

A probe is a function ``collect_<platform>(ctx: ProbeContext) -> section | None``. It never
raises for a fact it cannot read: it leaves the field ``None`` and calls ``ctx.error``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from agent.context import ProbeContext

ProbeFn = Callable[[ProbeContext], Any]

# section -> platform -> "module:function". Strings, so that a Linux agent never imports the
# Windows or macOS probes (and the other way round).
PROBES: dict[str, dict[str, str]] = {
    "host": {"linux": "agent.probes.host:collect_linux"},
    "os": {"linux": "agent.probes.os:collect_linux"},
    "hardware": {"linux": "agent.probes.hardware:collect_linux"},
    "displays": {"linux": "agent.probes.displays:collect_linux"},
    "inputs": {"linux": "agent.probes.inputs:collect_linux"},
    "network": {"linux": "agent.probes.network:collect_linux"},
    "wlan": {"linux": "agent.probes.wlan:collect_linux"},
    "patches": {"linux": "agent.probes.patches:collect_linux"},
    "security": {"linux": "agent.probes.security:collect_linux"},
    "software": {"linux": "agent.probes.software:collect_linux"},
}


def probe_for(section: str, platform: str) -> ProbeFn | None:
    target = PROBES.get(section, {}).get(platform)
    if target is None:
        return None
    module_name, func_name = target.split(":")
    fn: ProbeFn = getattr(importlib.import_module(module_name), func_name)
    return fn
