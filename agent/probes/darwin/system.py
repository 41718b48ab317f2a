"""Host, operating system and hardware on macOS (SPHardwareDataType, SPSoftwareDataType,
SPPowerDataType)."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers import system_profiler as sp
from agent.probes.hardware import read_cpu_counts, read_volumes
from agent.schema import Battery, Chassis, Hardware, Host, OperatingSystem

TIMEOUT_S = 60.0
# The text form: real output of it exists to test against, of -json only excerpts.
POWER = ["system_profiler", "SPPowerDataType"]


def profiler_argv(data_type: str) -> list[str]:
    return ["system_profiler", "-json", data_type]


def _hardware(ctx: ProbeContext) -> sp.Hardware | None:
    text = ctx.output(profiler_argv("SPHardwareDataType"), timeout=TIMEOUT_S)
    if text is None:
        return None
    try:
        return sp.parse_hardware(text)
    except sp.ProfilerError as exc:
        ctx.error(f"SPHardwareDataType: {exc}")
        return None


def _chassis(model_name: str | None, identifier: str | None) -> Chassis | None:
    text = f"{model_name or ''} {identifier or ''}".casefold()
    if "virtual" in text:
        return "vm"
    if "macbook" in text:
        return "laptop"
    if any(k in text for k in ("imac", "mac mini", "macmini", "mac pro", "mac studio")):
        return "desktop"
    return None


def collect_host(ctx: ProbeContext) -> Host:
    host = Host(manufacturer="Apple Inc.")
    hw = _hardware(ctx)
    if hw is not None:
        host.model = hw.model_name
        host.serial = hw.serial
        host.chassis = _chassis(hw.model_name, hw.model_identifier)
        if hw.serial is None:
            ctx.error("SPHardwareDataType: no serial_number")
    return host


def collect_os(ctx: ProbeContext) -> OperatingSystem:
    info = OperatingSystem(family="darwin")
    text = ctx.output(profiler_argv("SPSoftwareDataType"), timeout=TIMEOUT_S)
    if text is None:
        return info
    try:
        sw = sp.parse_software(text)
    except sp.ProfilerError as exc:
        ctx.error(f"SPSoftwareDataType: {exc}")
        return info
    info.name, info.version, info.build, info.kernel = sw.name, sw.version, sw.build, sw.kernel
    return info


def collect_hardware(ctx: ProbeContext) -> Hardware:
    result = Hardware()
    hw = _hardware(ctx)
    if hw is not None:
        result.cpu_model = hw.cpu
        result.memory_bytes = hw.memory_bytes
    result.battery = _battery(ctx)
    read_cpu_counts(ctx, result)
    # /System/Volumes/* are APFS parts of the one system disk, not volumes of their own.
    result.volumes = read_volumes(
        ctx, lambda mount: mount == "/", lambda mount: mount.startswith("/System/Volumes/")
    )
    return result


def _battery(ctx: ProbeContext) -> Battery | None:
    text = ctx.output(POWER, timeout=TIMEOUT_S)
    if text is None:
        return None
    try:
        info = sp.parse_power(text)
    except sp.ProfilerError as exc:
        ctx.error(f"SPPowerDataType: {exc}")
        return None
    if info is None:
        return None  # no battery in this Mac
    # Only mAh, no design capacity, no design voltage: the Wh figures stay unknown; the health
    # is Apple's "Maximum Capacity", which older macOS does not print. Its "Condition"
    # ("Normal", "Service Recommended") has no field in the report (schema version 1).
    pct = info.maximum_capacity_pct
    battery = Battery(
        cycle_count=info.cycle_count,
        health=round(pct / 100, 3) if pct is not None and 0 < pct <= 1000 else None,
    )
    ctx.error("SPPowerDataType gives mAh only, no design voltage: capacities in Wh unknown")
    if battery.health is None:
        ctx.error("SPPowerDataType: no Maximum Capacity: battery health unknown")
    if battery.cycle_count is None:
        ctx.error("SPPowerDataType: no Cycle Count")
    return battery
