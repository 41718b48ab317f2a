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
    "host": {
        "linux": "agent.probes.host:collect_linux",
        "windows": "agent.probes.windows.system:collect_host",
        "darwin": "agent.probes.darwin.system:collect_host",
    },
    "os": {
        "linux": "agent.probes.os:collect_linux",
        "windows": "agent.probes.windows.system:collect_os",
        "darwin": "agent.probes.darwin.system:collect_os",
    },
    "hardware": {
        "linux": "agent.probes.hardware:collect_linux",
        "windows": "agent.probes.windows.system:collect_hardware",
        "darwin": "agent.probes.darwin.system:collect_hardware",
    },
    "displays": {
        "linux": "agent.probes.displays:collect_linux",
        "windows": "agent.probes.windows.displays:collect",
        "darwin": "agent.probes.darwin.displays:collect",
    },
    "inputs": {"linux": "agent.probes.inputs:collect_linux"},
    "network": {
        "linux": "agent.probes.network:collect_linux",
        "windows": "agent.probes.windows.network:collect",
        "darwin": "agent.probes.windows.network:collect",
    },
    "wlan": {
        "linux": "agent.probes.wlan:collect_linux",
        "windows": "agent.probes.windows.wlan:collect",
        "darwin": "agent.probes.darwin.wlan:collect",
    },
    "patches": {
        "linux": "agent.probes.patches:collect_linux",
        "windows": "agent.probes.windows.patches:collect",
        "darwin": "agent.probes.darwin.patches:collect",
    },
    "security": {
        "linux": "agent.probes.security:collect_linux",
        "windows": "agent.probes.windows.security:collect",
        "darwin": "agent.probes.darwin.security:collect",
    },
    "software": {
        "linux": "agent.probes.software:collect_linux",
        "windows": "agent.probes.windows.software:collect",
        "darwin": "agent.probes.darwin.software:collect",
    },
}


def probe_for(section: str, platform: str) -> ProbeFn | None:
    target = PROBES.get(section, {}).get(platform)
    if target is None:
        return None
    module_name, func_name = target.split(":")
    fn: ProbeFn = getattr(importlib.import_module(module_name), func_name)
    return fn
