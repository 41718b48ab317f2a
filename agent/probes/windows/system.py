"""Host, operating system and hardware on Windows.

``systeminfo`` gives names, OS version and build, install and boot time, manufacturer,
model, BIOS version and date, and the physical memory in one built-in command (localized:
German and English labels are known). The serial number comes from the CIM class
Win32_BIOS in PowerShell's list view, whose property names are never translated. CPU
counts and volumes come from psutil, which works on Windows.
"""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers.powershell_list import parse_list
from agent.parsers.systeminfo import SystemInfo, parse_systeminfo
from agent.probes.hardware import read_cpu_counts, read_volumes
from agent.probes.host import chassis_from_dmi, clean_dmi
from agent.probes.windows import powershell
from agent.schema import Hardware, Host, OperatingSystem

SYSTEMINFO = ["systeminfo"]
# The default view of Win32_BIOS lists exactly these properties, in this order.
WIN32_BIOS = powershell(
    "Get-CimInstance -ClassName Win32_BIOS | "
    "Format-List SMBIOSBIOSVersion,Manufacturer,Name,SerialNumber,Version"
)
TIMEOUT_S = 60.0


def _systeminfo(ctx: ProbeContext) -> SystemInfo | None:
    text = ctx.output(SYSTEMINFO, timeout=TIMEOUT_S)
    if text is None:
        return None
    info = parse_systeminfo(text)
    if not info.values:
        ctx.error("systeminfo: unrecognised output (no known label)")
        return None
    return info


def collect_host(ctx: ProbeContext) -> Host:
    host = Host()
    info = _systeminfo(ctx)
    if info is not None:
        host.hostname = info.get("hostname")
        host.manufacturer = clean_dmi(info.get("manufacturer"))
        host.model = clean_dmi(info.get("model"))
        host.bios_version, host.bios_date = info.bios
        host.chassis = chassis_from_dmi(None, info.get("manufacturer"), info.get("model"))
        if host.chassis is None:
            ctx.error("chassis: systeminfo does not name the enclosure type")
    text = ctx.output(WIN32_BIOS, timeout=TIMEOUT_S)
    records = parse_list(text) if text is not None else []
    if text is not None and not records:
        ctx.error("Win32_BIOS: unrecognised output")
    if records:
        bios = records[0]
        raw_serial = bios.get("SerialNumber")
        host.serial = clean_dmi(raw_serial)
        if raw_serial and host.serial is None:
            ctx.error(f"Win32_BIOS.SerialNumber holds the placeholder {raw_serial!r}")
        host.bios_vendor = clean_dmi(bios.get("Manufacturer"))
        host.bios_version = clean_dmi(bios.get("SMBIOSBIOSVersion")) or host.bios_version
    return host


def collect_os(ctx: ProbeContext) -> OperatingSystem:
    info = OperatingSystem(family="windows")
    si = _systeminfo(ctx)
    if si is None:
        return info
    name = si.get("os_name")
    info.name = name
    if name:
        for edition in ("Enterprise", "Education", "Pro", "Home", "IoT"):
            if edition in name.split():
                info.edition = edition
                break
    info.version = si.version
    info.build = si.build
    info.kernel = si.version
    info.arch = si.arch
    info.install_date = si.datetime("install_date")
    info.boot_time = si.datetime("boot_time")
    if si.get("boot_time") and info.boot_time is None:
        ctx.error("systeminfo: boot time without a readable time zone or date format")
    return info


def collect_hardware(ctx: ProbeContext) -> Hardware:
    hw = Hardware()
    si = _systeminfo(ctx)
    if si is not None:
        hw.memory_bytes = si.memory_bytes
        if hw.memory_bytes is None:
            ctx.error("systeminfo: no total physical memory")
    read_cpu_counts(ctx, hw)
    hw.volumes = read_volumes(ctx, lambda mount: mount.upper().startswith("C:"))
    return hw
