"""The macOS battery from ``system_profiler SPPowerDataType`` (real captures in
tests/fixtures/darwin-outputs/sp-power-*)."""

from __future__ import annotations

from agent.probes.darwin import system
from tests.fakes import FixtureRunner, context, machine


def _battery(fixture: str | None):
    runner = FixtureRunner()
    if fixture is not None:
        runner.add_file(system.POWER, f"darwin-outputs/{fixture}")
    ctx, errors = context(machine(runner, platform="darwin"), probe="hardware")
    return system._battery(ctx), [message for _, message in errors.entries]


def test_apple_silicon_health_from_maximum_capacity():
    battery, errors = _battery("sp-power-m1-macbookair-11.2.3.txt")
    assert battery is not None
    assert (battery.cycle_count, battery.health) == (1, 1.0)  # "Maximum Capacity: 100 %"
    assert (battery.design_capacity_wh, battery.full_capacity_wh) == (None, None)
    assert errors == ["SPPowerDataType gives mAh only, no design voltage: capacities in Wh unknown"]


def test_intel_without_maximum_capacity():
    battery, errors = _battery("sp-power-intel-10.11.txt")
    assert battery is not None and (battery.cycle_count, battery.health) == (552, None)
    assert "SPPowerDataType: no Maximum Capacity: battery health unknown" in errors


def test_command_missing():
    battery, errors = _battery(None)
    assert battery is None and errors == ["system_profiler SPPowerDataType: not-found"]
