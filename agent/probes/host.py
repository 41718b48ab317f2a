"""The host: machine id, names, and what the firmware (DMI/SMBIOS) says it is."""

from __future__ import annotations

import datetime as dt
import socket

from agent.context import ProbeContext
from agent.parsers.cpuinfo import parse_cpuinfo
from agent.schema import Chassis, Host

DMI = "/sys/class/dmi/id"

# SMBIOS 3.x, 7.4.1 "System Enclosure or Chassis Types".
_CHASSIS: dict[int, Chassis] = {
    **dict.fromkeys((3, 4, 5, 6, 7, 13, 15, 16, 24, 34, 35, 36), "desktop"),
    **dict.fromkeys((8, 9, 10, 14, 31, 32), "laptop"),
    **dict.fromkeys((11, 30), "tablet"),
    **dict.fromkeys((17, 23, 25, 28, 29), "server"),
}

# Firmware strings that vendors leave in place of a real value: not a serial, not a model.
PLACEHOLDERS = frozenset(
    s.casefold()
    for s in (
        "To be filled by O.E.M.",
        "To Be Filled By O.E.M.",
        "Default string",
        "System Serial Number",
        "System Product Name",
        "System manufacturer",
        "Not Specified",
        "Not Applicable",
        "None",
        "N/A",
        "0123456789",
        "00000000",
        "Chassis Serial Number",
        "INVALID",
        "OEM",
    )
)

# DMI vendor/product strings of hypervisors; their "chassis type" is whatever they emulate.
_VM_MARKERS = (
    "qemu",
    "kvm",
    "virtualbox",
    "vmware",
    "virtual machine",
    "xen",
    "bochs",
    "parallels",
    "bhyve",
    "openstack",
    "amazon ec2",
    "google compute engine",
)


def clean_dmi(value: str | None) -> str | None:
    if value is None or value.casefold() in PLACEHOLDERS or not value.strip(" ."):
        return None
    return value


def chassis_from_dmi(
    chassis_type: str | None, vendor: str | None, product: str | None
) -> Chassis | None:
    text = f"{vendor or ''} {product or ''}".casefold()
    if any(marker in text for marker in _VM_MARKERS):
        return "vm"
    if chassis_type is None or not chassis_type.isdigit():
        return None
    return _CHASSIS.get(int(chassis_type), "other")


def parse_bios_date(value: str | None) -> dt.date | None:
    """DMI's bios_date is MM/DD/YYYY (some firmwares: MM/DD/YY)."""
    if not value:
        return None
    for fmt in ("%m/%d/%Y", "%m/%d/%y"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def collect_linux(ctx: ProbeContext) -> Host:
    host = Host()
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        value = ctx.attr(path)
        if value:
            host.machine_id = value
            break
    else:
        ctx.error("machine id: neither /etc/machine-id nor /var/lib/dbus/machine-id readable")
    # The kernel's hostname through procfs, so a captured tree reports its own machine.
    host.hostname = ctx.attr("/proc/sys/kernel/hostname")
    if host.hostname is None:
        ctx.error("hostname: /proc/sys/kernel/hostname not readable")
    fqdn = ctx.fact("socket.getfqdn", socket.getfqdn)
    # getfqdn() falls back to "localhost" when the name resolves nowhere: that is no FQDN.
    if fqdn in ("localhost", "localhost.localdomain"):
        ctx.error(f"fqdn: the host name resolves only to {fqdn}")
        fqdn = None
    host.fqdn = fqdn
    _dmi(ctx, host)
    return host


def _dmi(ctx: ProbeContext, host: Host) -> None:
    if not ctx.exists(DMI):
        ctx.error(f"{DMI} does not exist: the firmware offers no DMI/SMBIOS data")
        cpu = parse_cpuinfo(ctx.text("/proc/cpuinfo") or "")
        # The CPUID hypervisor bit is read, not guessed: only guests have it set.
        host.chassis = "vm" if cpu.hypervisor else None
        return
    vendor = ctx.attr(f"{DMI}/sys_vendor")
    product = ctx.attr(f"{DMI}/product_name")
    host.manufacturer = clean_dmi(vendor)
    host.model = clean_dmi(product)
    # Lenovo puts the machine type (1298A8G) in product_name and the model name that people
    # know (ThinkPad Edge E320) in product_version.
    if (vendor or "").upper() == "LENOVO":
        host.model = clean_dmi(ctx.attr(f"{DMI}/product_version")) or host.model
    # product_serial is readable by root only; a normal user gets None and an error entry.
    raw_serial = ctx.attr(f"{DMI}/product_serial")
    host.serial = clean_dmi(raw_serial)
    if raw_serial is None:
        ctx.error(f"{DMI}/product_serial not readable (root only)")
    elif host.serial is None:
        ctx.error(f"{DMI}/product_serial holds the placeholder {raw_serial!r}")
    host.chassis = chassis_from_dmi(ctx.attr(f"{DMI}/chassis_type"), vendor, product)
    host.bios_vendor = clean_dmi(ctx.attr(f"{DMI}/bios_vendor"))
    host.bios_version = clean_dmi(ctx.attr(f"{DMI}/bios_version"))
    raw_date = ctx.attr(f"{DMI}/bios_date")
    host.bios_date = parse_bios_date(raw_date)
    if raw_date and host.bios_date is None:
        ctx.error(f"{DMI}/bios_date: cannot read date {raw_date!r}")
