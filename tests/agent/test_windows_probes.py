"""Windows probes on cut and garbled copies of the bundles' real output: every fact that
cannot be read is null with an entry in collection.errors, no probe raises."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.bundle import open_bundle
from agent.probes.windows import displays, security, system
from agent.report import collect
from agent.schema import encode
from tests.fakes import FixtureRunner, context, machine

FIXTURES = Path(__file__).parents[1] / "fixtures"
OUT = FIXTURES / "windows-outputs"
BUNDLES = ["windows-10-de-laptop", "windows-10-en-laptop", "windows-11-en-laptop"]
DAMAGE = {
    "half": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "garbled": lambda text: "\x00\ufffd" + text[::-1].replace(":", ";"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", BUNDLES)
def test_damaged_bundle_gives_nulls_and_errors_not_a_crash(tmp_path, name, damage):
    bundle = tmp_path / name
    shutil.copytree(FIXTURES / name, bundle)
    for out in (bundle / "commands").glob("*.out"):
        out.write_text(DAMAGE[damage](out.read_text(encoding="utf-8")), encoding="utf-8")
    report = collect(open_bundle(bundle))
    messages = [e.message for e in report.collection.errors]
    assert not [m for m in messages if m.startswith("internal error")], messages
    if damage != "half":
        assert report.security is not None and report.security.disk_encryption is None
        assert report.software is None or report.software == []
        assert report.host is not None and report.host.serial is None
        assert report.displays in (None, [])
    json.loads(encode(report).decode())


def test_two_monitors_get_sizes_but_no_guessed_names():
    lines = (OUT / "monitor-params-len40ba-sam1017-commented.txt").read_text().splitlines()[1:]
    params = "\n".join(line.removeprefix("#") for line in lines)
    runner = FixtureRunner().add(displays.PARAMS, params)
    runner.add(displays.NAMES, "76\n69\n78\n0\n83\n65\n77\n0\n")
    ctx, errors = context(machine(runner, platform="windows"), "displays")
    panel, samsung = displays.collect(ctx) or []
    assert (panel.vendor_pnp, panel.width_cm, panel.diagonal_in) == ("LEN", 34.0, 15.3)
    assert (samsung.vendor_pnp, samsung.product_code, samsung.width_cm) == ("SAM", 0x1017, 63.0)
    assert panel.model is None and samsung.model is None
    assert any("cannot be matched" in m for _, m in errors.entries)


def test_firewall_falls_back_to_netsh_when_the_cmdlet_fails():
    runner = FixtureRunner().add(security.FIREWALL_PROFILES, "", exit_code=1, stderr="denied")
    runner.add_file(
        security.FIREWALL, "windows-outputs/advfirewall-en-currentprofile-public-on.txt"
    )
    ctx, errors = context(machine(runner, platform="windows"), "security")
    assert security.collect(ctx).firewall is True
    assert runner.calls[:2] == [tuple(security.FIREWALL_PROFILES), tuple(security.FIREWALL)]
    assert any("exit code 1: denied" in m for _, m in errors.entries)


def test_cmdlet_answer_means_netsh_is_not_asked():
    runner = FixtureRunner().add_file(
        security.FIREWALL_PROFILES, "windows-outputs/netfirewallprofile-public-enabled.txt"
    )
    ctx, _ = context(machine(runner, platform="windows"), "security")
    assert security.collect(ctx).firewall is True
    assert tuple(security.FIREWALL) not in runner.calls


def test_systeminfo_with_model_does_not_ask_win32_computersystem():
    runner = FixtureRunner().add_file(
        system.SYSTEMINFO, "windows-outputs/systeminfo-en-win11-22h2-huawei.txt"
    )
    ctx, _ = context(machine(runner, platform="windows"), "host")
    host = system.collect_host(ctx)
    assert (host.manufacturer, host.model) == ("HUAWEI", "NBLB-WAX9N")
    assert tuple(system.WIN32_COMPUTERSYSTEM) not in runner.calls
