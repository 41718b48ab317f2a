"""/proc/cpuinfo: the CPU model name and whether we run under a hypervisor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CpuInfo:
    model: str | None
    processors: int
    hypervisor: bool


# x86 says "model name"; ARM kernels say "Model" (board) or "CPU part"; s390 "machine".
_MODEL_KEYS = ("model name", "Model", "cpu model", "cpu")


def parse_cpuinfo(text: str) -> CpuInfo:
    model: str | None = None
    processors = 0
    hypervisor = False
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            processors += 1
        elif key in _MODEL_KEYS and model is None and value:
            model = " ".join(value.split())
        elif key == "flags" and "hypervisor" in value.split():
            hypervisor = True
    return CpuInfo(model, processors, hypervisor)
