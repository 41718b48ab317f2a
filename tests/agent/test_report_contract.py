"""A probe's section is checked against the report contract where it is collected: a value
outside it costs that section (null, with the reason in collection.errors), never the whole
report, which the collector would refuse."""

from __future__ import annotations

from typing import Any

import pytest

from agent import report as report_module
from agent.context import LiveCalls, Machine
from agent.files import RootedFiles
from agent.report import Selection, collect
from agent.schema import Display, OperatingSystem, decode_report, encode
from tests.fakes import FixtureRunner


def _machine() -> Machine:
    return Machine(FixtureRunner(), RootedFiles(rootfs="/nonexistent"), LiveCalls(), "linux")


def test_a_section_outside_the_contract_is_null_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probes: dict[str, Any] = {
        # EDID years start at 1990 in the contract; 1850 is a parser's bug, not a monitor.
        "displays": lambda ctx: [Display(connector="card0-DP-1", year=1850)],
        "os": lambda ctx: OperatingSystem(family="linux", name="Debian GNU/Linux"),
    }
    monkeypatch.setattr(report_module, "probe_for", lambda section, platform: probes[section])
    report = collect(_machine(), Selection(only=frozenset(probes)))
    assert report.displays is None
    assert report.os is not None and report.os.name == "Debian GNU/Linux"
    errors = [(e.probe, e.message) for e in report.collection.errors]
    assert any(p == "displays" and "outside the report contract" in m for p, m in errors)
    # What the agent sends is a report the collector accepts.
    assert decode_report(encode(report)).os == report.os


def test_a_probe_building_a_part_from_a_dict_gets_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Building a model does not check or convert its fields; the check makes them models.
    probes: dict[str, Any] = {"os": lambda ctx: {"family": "linux", "boot_time": None}}
    monkeypatch.setattr(report_module, "probe_for", lambda section, platform: probes[section])
    report = collect(_machine(), Selection(only=frozenset(probes)))
    assert isinstance(report.os, OperatingSystem) and report.os.family == "linux"
