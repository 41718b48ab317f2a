"""Waivers and the CLI helpers."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from collector.policy import PolicySet, Waiver
from collector.policy.cli import main, register
from tests.policy.helpers import NOW, POLICIES_DIR, make, run

FAILING = {"security.firewall": False}


def test_waived_failure_is_shown_as_waived(policies: PolicySet) -> None:
    waiver = Waiver(
        check="sec.firewall",
        host="RATHAUS-PC-017",
        reason="Messrechner",
        until=dt.date(2025, 12, 31),
    )
    result = run(policies, make(FAILING), "sec.firewall", waivers=(waiver,))
    assert result.status == "waived"
    assert "Messrechner" in result.message and "2025-12-31" in result.message


def test_site_waiver_and_expiry(policies: PolicySet) -> None:
    waiver = Waiver(check="sec.firewall", site="rathaus", reason="Projekt", until=NOW.date())
    assert run(policies, make(FAILING), "sec.firewall", waivers=(waiver,)).status == "waived"
    later = NOW + dt.timedelta(days=1)
    result = run(policies, make(FAILING), "sec.firewall", waivers=(waiver,), now=later)
    assert result.status == "fail"
    assert "expired" in result.message


def test_waiver_does_not_touch_other_hosts_or_passes(policies: PolicySet) -> None:
    other = Waiver(check="sec.firewall", host="schule-pc-1", reason="x", until=dt.date(2030, 1, 1))
    assert run(policies, make(FAILING), "sec.firewall", waivers=(other,)).status == "fail"
    mine = Waiver(check="sec.firewall", site="rathaus", reason="x", until=dt.date(2030, 1, 1))
    assert run(policies, make({}), "sec.firewall", waivers=(mine,)).status == "pass"


def test_waiver_validation() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Waiver(check="a.b", reason="x", until=dt.date(2030, 1, 1))
    w = Waiver.from_dict({"check": "a.b", "site": "s", "reason": "r", "until": "2030-01-01"})
    assert w.until == dt.date(2030, 1, 1)


def test_register_adds_policy_command() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["policy", "check", str(POLICIES_DIR)])
    assert args.func(args) == 0


def test_cli_check_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 1
    assert "data" in capsys.readouterr().err


def test_cli_eval_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(make(FAILING)), encoding="utf-8")
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "- {check: sec.reboot.pending, site: rathaus, reason: test, until: 2030-01-01}\n"
    )
    rc = main(
        [
            "eval",
            "--report",
            str(report),
            "--policies",
            str(POLICIES_DIR),
            "--format",
            "json",
            "--now",
            "2025-06-02T12:00:00Z",
            "--waivers",
            str(waivers),
        ]
    )
    assert rc == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results[0]) == {"check", "status", "severity", "category", "message"}
    by_id = {r["check"]: r for r in results}
    assert by_id["sec.firewall"]["status"] == "fail"
    assert by_id["sec.os.supported"]["status"] == "pass"

    assert main(["eval", "--report", str(report), "--policies", str(POLICIES_DIR)]) == 0
    out = capsys.readouterr().out
    assert "sec.firewall" in out and "STATUS" in out


def test_cli_eval_rejects_invalid_report(tmp_path: Path) -> None:
    report = tmp_path / "bad.json"
    report.write_text('{"schema_version": 1}', encoding="utf-8")
    assert main(["eval", "--report", str(report), "--policies", str(POLICIES_DIR)]) == 2
