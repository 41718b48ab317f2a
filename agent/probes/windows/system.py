"""Host, operating system and hardware on Windows.

``systeminfo`` gives names, OS version and build, install and boot time, manufacturer,
model, BIOS version and date, and the physical memory in one built-in command (localized:
German and English labels are known). The serial number comes from the CIM class
Win32_BIOS in its default list view, whose property names are never translated. When
``systeminfo`` names no model or memory (a language whose labels are not known, or a cut
output), the default table view of Win32_ComputerSystem fills in host name, manufacturer,
model and memory; PowerShell cuts long values in that table (``Micro-Star Inter...``), and a
cut value is reported unknown, not shortened. CPU counts and volumes come from psutil, which
works on Windows.

The patch level is read from the registry, ``HKLM\\SOFTWARE\\Microsoft\\Windows NT\\
CurrentVersion``: ``CurrentBuild`` and ``UBR`` (the update build revision, raised by every
cumulative update) give ``os.build`` as ``19045.5011``; ``DisplayVersion`` (22H2, 23H2) the
feature update.
"""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers.powershell_list import parse_list
from agent.parsers.powershell_table import is_cut, parse_table
from agent.parsers.regvalues import dword, text
from agent.parsers.systeminfo import SystemInfo, parse_systeminfo
from agent.probes.hardware import read_cpu_counts, read_volumes
from agent.probes.host import chassis_from_dmi, clean_dmi
from agent.probes.windows import powershell
from agent.schema import Hardware, Host, OperatingSystem

SYSTEMINFO = ["systeminfo"]
# Default views: Win32_BIOS is a list (SMBIOSBIOSVersion, Manufacturer, Name, SerialNumber,
# Version), Win32_ComputerSystem a table (Name, PrimaryOwnerName, Domain,
# TotalPhysicalMemory, Model, Manufacturer).
WIN32_BIOS = powershell("Get-CimInstance -ClassName Win32_BIOS")
WIN32_COMPUTERSYSTEM = powershell("Get-CimInstance -ClassName Win32_ComputerSystem")
TIMEOUT_S = 60.0
CURRENT_VERSION = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"


def _systeminfo(ctx: ProbeContext) -> SystemInfo | None:
    text = ctx.output(SYSTEMINFO, timeout=TIMEOUT_S)
    if text is None:
        return None
    info = parse_systeminfo(text)
    if not info.values:
        ctx.error("systeminfo: unrecognised output (no known label)")
        return None
    return info


def installed_kbs(ctx: ProbeContext) -> list[str] | None:
    """The installed updates' KB articles as systeminfo lists them (its "Hotfix(s)" line);
    None when systeminfo or that line is missing (a language whose label is unknown)."""
    info = _systeminfo(ctx)
    if info is None:
        return None
    if info.get("hotfixes") is None:
        ctx.error("systeminfo: no hotfix list (label not recognised)")
        return None
    return list(dict.fromkeys(info.hotfixes))[:4096]


def _computer_system(ctx: ProbeContext, *used: str) -> dict[str, str | None] | None:
    """Win32_ComputerSystem's table row; a ``used`` value PowerShell cut is None (and said)."""
    text = ctx.output(WIN32_COMPUTERSYSTEM, timeout=TIMEOUT_S)
    if text is None:
        return None
    rows = parse_table(text)
    if not rows:
        ctx.error("Win32_ComputerSystem: unrecognised output")
        return None
    row: dict[str, str | None] = dict(rows[0])
    for key in used:
        value = rows[0].get(key)
        if is_cut(value):
            ctx.error(f"Win32_ComputerSystem.{key} is cut by the table view: {value!r}")
            row[key] = None
    return row


def collect_host(ctx: ProbeContext) -> Host:
    host = Host()
    info = _systeminfo(ctx)
    if info is not None:
        host.hostname = info.get("hostname")
        host.manufacturer = clean_dmi(info.get("manufacturer"))
        host.model = clean_dmi(info.get("model"))
        host.bios_version, host.bios_date = info.bios
    if host.model is None:
        row = _computer_system(ctx, "Name", "Manufacturer", "Model")
        if row is not None:
            host.hostname = host.hostname or row.get("Name") or None
            host.manufacturer = host.manufacturer or clean_dmi(row.get("Manufacturer"))
            host.model = clean_dmi(row.get("Model"))
    host.chassis = chassis_from_dmi(None, host.manufacturer, host.model)
    if host.chassis is None:
        ctx.error("chassis: not read on Windows (only virtual machines are told by name)")
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
    if si is not None:
        _from_systeminfo(ctx, si, info)
    _patch_level(ctx, info)
    return info


def _patch_level(ctx: ProbeContext, info: OperatingSystem) -> None:
    values = ctx.reg_values(CURRENT_VERSION)
    if values is None:
        return
    build = text(values, "CurrentBuild")
    ubr = dword(values, "UBR")
    info.display_version = text(values, "DisplayVersion")
    if build is None or not build.isdigit():
        ctx.error(f"{CURRENT_VERSION}: no CurrentBuild")
        return
    if info.build not in (None, build):
        ctx.error(f"systeminfo says build {info.build}, the registry {build}; registry kept")
    info.build = build if ubr is None else f"{build}.{ubr}"
    if ubr is None:
        ctx.error(f"{CURRENT_VERSION}: no UBR; patch level unknown")


def _from_systeminfo(ctx: ProbeContext, si: SystemInfo, info: OperatingSystem) -> None:
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


def collect_hardware(ctx: ProbeContext) -> Hardware:
    hw = Hardware()
    si = _systeminfo(ctx)
    hw.memory_bytes = si.memory_bytes if si is not None else None
    if hw.memory_bytes is None:
        row = _computer_system(ctx, "TotalPhysicalMemory")
        memory = (row or {}).get("TotalPhysicalMemory") or ""
        hw.memory_bytes = int(memory) if memory.isdigit() else None
        if hw.memory_bytes is None:
            ctx.error("memory: neither systeminfo nor Win32_ComputerSystem gives the total")
    read_cpu_counts(ctx, hw)
    hw.volumes = read_volumes(ctx, lambda mount: mount.upper().startswith("C:"))
    return hw
