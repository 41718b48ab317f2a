"""Hardware: CPU, memory, disks, volumes, battery health, TPM and firmware type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psutil

from agent.context import ProbeContext
from agent.parsers.cpuinfo import parse_cpuinfo
from agent.schema import Battery, Disk, Hardware, Tpm, Volume

# Block devices that are not disks one could buy or replace.
_VIRTUAL_BLOCK_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd")
# File systems without a disk below them, or on the network (a hung NFS server must not hang
# the agent in statvfs).
# /media/<user>/<label>, /run/media/<user>/…, /home/<user>, /run/user/<uid>: a USB stick
# is no volume of the machine, and the path would name its user.
_PERSONAL_MOUNT_PREFIXES = ("/media/", "/run/media/", "/home/", "/run/user/")
_SKIP_FSTYPES = frozenset(
    {"squashfs", "tmpfs", "devtmpfs", "nfs", "nfs4", "cifs", "smb3", "sshfs", "9p", "autofs"}
)


def collect_linux(ctx: ProbeContext) -> Hardware:
    hw = Hardware()
    cpu = parse_cpuinfo(ctx.text("/proc/cpuinfo", required=True) or "")
    hw.cpu_model = cpu.model
    if read_cpu_counts(ctx, hw) and hw.cpu_cores is None:
        ctx.error("cpu cores: the kernel does not expose the core topology")
    memory = ctx.fact("psutil.virtual_memory", lambda: psutil.virtual_memory().total)
    hw.memory_bytes = memory
    hw.disks = _disks(ctx)
    hw.volumes = read_volumes(ctx, lambda mount: mount == "/", is_personal_mount)
    hw.battery = _battery(ctx)
    hw.tpm = _tpm(ctx)
    hw.uefi = ctx.exists("/sys/firmware/efi")
    return hw


def _cpu_counts() -> dict[str, int | None]:
    return {"logical": psutil.cpu_count(logical=True), "physical": psutil.cpu_count(logical=False)}


def _disks(ctx: ProbeContext) -> list[Disk]:
    disks: list[Disk] = []
    for name in ctx.listdir("/sys/block"):
        if name.startswith(_VIRTUAL_BLOCK_PREFIXES):
            continue
        base = f"/sys/block/{name}"
        sectors = ctx.attr(f"{base}/size")
        rotational = ctx.attr(f"{base}/queue/rotational")
        disks.append(
            Disk(
                name=name,
                model=ctx.attr(f"{base}/device/model"),
                # sysfs counts 512-byte sectors whatever the device's own sector size.
                size_bytes=int(sectors) * 512 if sectors and sectors.isdigit() else None,
                rotational=None if rotational is None else rotational == "1",
            )
        )
    if not disks and not ctx.exists("/sys/block"):
        ctx.error("/sys/block not readable")
    return disks


def is_personal_mount(mount: str) -> bool:
    """Mount points that carry a user's name (removable media, per-user homes): DSGVO."""
    return mount.startswith(_PERSONAL_MOUNT_PREFIXES)


def _volume_facts() -> list[dict[str, Any]]:
    volumes = []
    for part in psutil.disk_partitions(all=False):
        if part.fstype in _SKIP_FSTYPES or part.fstype.startswith("fuse."):
            continue
        if is_personal_mount(part.mountpoint):
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            usage = None
        volumes.append(
            {
                "mount": part.mountpoint,
                "fstype": part.fstype,
                "size": usage.total if usage else None,
                "free": usage.free if usage else None,
            }
        )
    return volumes


def read_cpu_counts(ctx: ProbeContext, hw: Hardware) -> bool:
    """CPU threads and cores from psutil (every platform); False if they could not be read."""
    counts = ctx.fact("psutil.cpu_count", _cpu_counts)
    if counts is None:
        return False
    hw.cpu_threads = counts["logical"]
    hw.cpu_cores = counts["physical"]
    return True


def read_volumes(
    ctx: ProbeContext,
    is_system: Callable[[str], bool],
    leave_out: Callable[[str], bool] = lambda _mount: False,
) -> list[Volume] | None:
    """Mounted volumes from psutil (every platform), each mount once."""
    facts = ctx.fact("psutil.disk_partitions", _volume_facts)
    if facts is None:
        return None
    seen: set[str] = set()
    volumes = []
    for v in facts:
        # Bind mounts of one file system show up more than once.
        if v["mount"] in seen or leave_out(v["mount"]):
            continue
        seen.add(v["mount"])
        volumes.append(
            Volume(
                mount=v["mount"],
                fstype=v["fstype"] or None,
                size_bytes=v["size"],
                free_bytes=v["free"],
                system=is_system(v["mount"]),
            )
        )
    return volumes


def _micro(ctx: ProbeContext, path: str) -> float | None:
    value = ctx.attr(path)
    return int(value) / 1e6 if value and value.isdigit() else None


def _battery(ctx: ProbeContext) -> Battery | None:
    """The system battery; peripherals' batteries (scope "Device": mice, headsets) are not."""
    for name in ctx.listdir("/sys/class/power_supply"):
        base = f"/sys/class/power_supply/{name}"
        if ctx.attr(f"{base}/type") != "Battery" or ctx.attr(f"{base}/scope") == "Device":
            continue
        full = _micro(ctx, f"{base}/energy_full")
        design = _micro(ctx, f"{base}/energy_full_design")
        if full is None or design is None:
            # Batteries that report charge (µAh) instead of energy: Wh = Ah × design voltage.
            volts = _micro(ctx, f"{base}/voltage_min_design")
            charge_full = _micro(ctx, f"{base}/charge_full")
            charge_design = _micro(ctx, f"{base}/charge_full_design")
            if volts and charge_full is not None and charge_design is not None:
                full, design = charge_full * volts, charge_design * volts
        cycles = ctx.attr(f"{base}/cycle_count")
        battery = Battery(
            design_capacity_wh=round(design, 2) if design is not None else None,
            full_capacity_wh=round(full, 2) if full is not None else None,
            health=round(full / design, 3) if full is not None and design else None,
            # Many firmwares report 0 cycles when they do not count: that is unknown.
            cycle_count=int(cycles) if cycles and cycles.isdigit() and cycles != "0" else None,
        )
        if battery.health is None:
            ctx.error(f"{base}: no energy_full/energy_full_design or charge_full values")
        return battery
    return None


def _tpm(ctx: ProbeContext) -> Tpm:
    devices = [d for d in ctx.listdir("/sys/class/tpm") if d.startswith("tpm")]
    if not devices:
        return Tpm(present=False, version=None)
    base = f"/sys/class/tpm/{devices[0]}"
    major = ctx.attr(f"{base}/tpm_version_major")
    if major is not None:
        return Tpm(present=True, version="2.0" if major == "2" else f"{major}.2")
    # Kernels before 5.6 have no tpm_version_major; TPM 1.2 drivers expose "caps".
    caps = ctx.text(f"{base}/device/caps") or ""
    for line in caps.splitlines():
        if line.startswith("TCG version:"):
            return Tpm(present=True, version=line.split(":", 1)[1].strip())
    ctx.error(f"{base}: TPM present but its version is not readable")
    return Tpm(present=True, version=None)
