"""Host and hardware probes on captured sysfs trees (sources in fixtures/sysfs/SOURCES.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.probes import hardware, host
from agent.probes.host import chassis_from_dmi, clean_dmi, parse_bios_date
from tests.fakes import FIXTURES, FixtureCalls, context, machine

SYSFS = FIXTURES / "sysfs"


def test_thinkpad_host_from_dmi():
    ctx, errors = context(machine(root=SYSFS / "laptop-thinkpad-e320"), "host")
    h = host.collect_linux(ctx)
    assert h.machine_id == "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    assert h.hostname == "e320-kita"
    assert h.manufacturer == "LENOVO"
    assert h.model == "ThinkPad Edge E320"  # Lenovo's product_version, not the type 1298A8G
    assert h.serial == "LR9NKZ7"
    assert h.chassis == "laptop"  # SMBIOS 10 = Notebook
    assert h.bios_date == dt.date(2011, 12, 1)
    assert h.bios_version == "8NET32WW (1.16 )"
    # socket.getfqdn is not answered by the fixture: unknown, with its reason.
    assert h.fqdn is None
    assert any("socket.getfqdn" in m for _, m in errors.entries)


def test_no_dmi_means_null_fields_and_an_error(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu vme hypervisor\n")
    ctx, errors = context(machine(root=tmp_path), "host")
    h = host.collect_linux(ctx)
    assert (h.manufacturer, h.model, h.serial, h.bios_date) == (None, None, None, None)
    assert h.chassis == "vm"  # the CPUID hypervisor bit is a read fact
    messages = [m for _, m in errors.entries]
    assert any("/sys/class/dmi/id does not exist" in m for m in messages)
    assert any("machine id" in m for m in messages)


@pytest.mark.parametrize(
    ("code", "vendor", "product", "expected"),
    [
        ("3", "Dell Inc.", "OptiPlex 7010", "desktop"),
        ("10", "LENOVO", "20L5", "laptop"),
        ("30", "Microsoft Corporation", "Surface Go 2", "tablet"),
        ("23", "HP", "ProLiant DL360 Gen8", "server"),
        ("1", "QEMU", "Standard PC (i440FX + PIIX, 1996)", "vm"),
        ("3", "innotek GmbH", "VirtualBox", "vm"),
        ("2", "Some Vendor", "Box", "other"),
        (None, "Acme", "Thing", None),
    ],
)
def test_chassis_mapping(code, vendor, product, expected):
    assert chassis_from_dmi(code, vendor, product) == expected


def test_placeholders_are_not_facts():
    assert clean_dmi("To be filled by O.E.M.") is None
    assert clean_dmi("Default string") is None
    assert clean_dmi("System Serial Number") is None
    assert clean_dmi("LR9NKZ7") == "LR9NKZ7"


def test_bios_dates():
    assert parse_bios_date("12/01/2011") == dt.date(2011, 12, 1)
    assert parse_bios_date("04/01/14") == dt.date(2014, 4, 1)
    assert parse_bios_date("2011-12-01") is None


def _hardware(root, calls=None):
    ctx, errors = context(machine(root=root, calls=calls or {}), "hardware")
    return hardware.collect_linux(ctx), errors


def test_energy_battery_health():
    hw, _ = _hardware(SYSFS / "laptop-thinkpad-e320")
    assert hw.battery.design_capacity_wh == 60.0
    assert hw.battery.full_capacity_wh == 52.26
    assert hw.battery.health == pytest.approx(52.26 / 60.0, abs=0.001)
    assert hw.battery.cycle_count is None  # 0 means "not counted" on this firmware


def test_charge_battery_health_uses_design_voltage():
    hw, _ = _hardware(SYSFS / "charge-battery")
    assert hw.battery.design_capacity_wh == pytest.approx(2.2 * 14.8, abs=0.01)
    assert hw.battery.full_capacity_wh == pytest.approx(2.167 * 14.8, abs=0.01)
    assert hw.battery.health == pytest.approx(2167 / 2200, abs=0.001)


def test_battery_above_design_capacity_is_reported_as_is():
    hw, _ = _hardware(SYSFS / "sbs-battery")
    assert hw.battery.health == pytest.approx(42.45 / 41.04, abs=0.001)
    assert hw.battery.cycle_count == 12


def test_disks_skip_loop_devices_and_read_rotation():
    hw, _ = _hardware(SYSFS / "laptop-thinkpad-e320")
    assert [(d.name, d.model, d.size_bytes, d.rotational) for d in hw.disks] == [
        ("sda", "ST500LT012-9WS14", 976773168 * 512, True)
    ]
    assert hw.tpm.present is False and hw.uefi is False


def test_psutil_facts_come_from_the_call_source():
    calls = {
        "psutil.cpu_count": {"logical": 8, "physical": 4},
        "psutil.virtual_memory": 16 * 2**30,
        "psutil.disk_partitions": [
            {"mount": "/", "fstype": "ext4", "size": 100, "free": 40},
            {"mount": "/", "fstype": "ext4", "size": 100, "free": 40},
            {"mount": "/home", "fstype": "ext4", "size": 50, "free": 10},
            {"mount": "/media/anna/USB-STICK", "fstype": "vfat", "size": 8, "free": 1},
            {"mount": "/home/anna", "fstype": "ext4", "size": 50, "free": 10},
        ],
    }
    hw, _errors = _hardware(SYSFS / "laptop-thinkpad-e320", calls)
    assert (hw.cpu_threads, hw.cpu_cores, hw.memory_bytes) == (8, 4, 16 * 2**30)
    # Bind mounts appear once; removable media and per-user mounts (a user's name) not at all.
    assert [(v.mount, v.system) for v in hw.volumes] == [("/", True), ("/home", False)]


def test_tpm2_and_uefi(tmp_path):
    (tmp_path / "sys/class/tpm/tpm0").mkdir(parents=True)
    (tmp_path / "sys/class/tpm/tpm0/tpm_version_major").write_text("2\n")
    (tmp_path / "sys/firmware/efi").mkdir(parents=True)
    hw, _ = _hardware(tmp_path)
    assert (hw.tpm.present, hw.tpm.version, hw.uefi) == (True, "2.0", True)


def test_unanswered_psutil_calls_are_errors_not_guesses(tmp_path):
    ctx, errors = context(machine(root=tmp_path), "hardware")
    ctx.machine.calls = FixtureCalls({})
    hw = hardware.collect_linux(ctx)
    assert hw.memory_bytes is None and hw.cpu_threads is None and hw.volumes is None
    assert sum("psutil" in m for _, m in errors.entries) == 3
