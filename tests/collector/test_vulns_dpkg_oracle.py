"""This machine's own inventory (the agent's os and software sections, collected live)
matched against the shipped Debian tracker excerpt (../shared/corpus/vulns/debian-tracker),
with the real dpkg as the oracle: every reported entry, and every package the excerpt names
that was not reported, is checked with ``dpkg --compare-versions``. The same inventory is
matched as each release the excerpt has (bookworm, bullseye, buster, ...), so the checks
cover resolved and open entries of several releases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector.vuln_rows import host_vuln_rows
from collector.vulns.importer import import_feed
from collector.vulns.matching import rematch
from collector.vulns.versions import dpkg_less
from tests.collector.conftest import Env
from tests.needs import missing

TRACKER = (
    Path(__file__).parents[3] / "shared" / "corpus" / "vulns" / "debian-tracker" / "debian.json"
)


def _dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


@pytest.fixture(scope="module")
def inventory() -> dict[str, object]:
    if shutil.which("dpkg") is None or not Path("/var/lib/dpkg/status").exists():
        missing("dpkg (a Debian system) is needed as the oracle")
    out = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--only", "os,software"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    report: dict[str, object] = json.loads(out.stdout)
    return report


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_match_of_this_machine_agrees_with_dpkg(env: Env, inventory: dict) -> None:
    tracker = json.loads(TRACKER.read_text())
    import_feed(env.db, str(TRACKER))
    software = inventory["software"]
    installed = {(s["source"], s["source_version"]) for s in software if s.get("source")}
    assert installed, "the agent reported no source packages"
    releases = sorted({r for cves in tracker.values() for e in cves.values()
                       if isinstance(e.get("releases"), dict) for r in e["releases"]})  # fmt: skip
    hosts: dict[str, int] = {}
    for release in releases:
        report = {**inventory, "os": {**inventory["os"], "codename": release}}
        report["host"] = {"machine_id": f"oracle-{release}", "hostname": f"oracle-{release}"}
        report.pop("report_id", None)
        import uuid

        report["report_id"] = str(uuid.uuid4())
        _, token = env.enroll(f"oracle-{release}")
        r = env.post(token, report)
        assert r.status_code == 201, r.text
        hosts[release] = r.json()["host_id"]
    rematch(env.db)
    hv = host_vuln_rows()
    with env.db.engine.connect() as conn:
        rows = conn.execute(sa.select(hv.c.host_id, hv.c.package, hv.c.installed, hv.c.fixed,
                                      hv.c.cve, hv.c.status)).all()  # fmt: skip
    reported = {(r.host_id, r.package, r.installed, r.cve): r for r in rows}
    checked = 0
    for release, host_id in hosts.items():
        for source, version in installed:
            for cve, entry in (tracker.get(source) or {}).items():
                state = (entry.get("releases") or {}).get(release) if isinstance(
                    entry.get("releases"), dict) else None  # fmt: skip
                if not isinstance(state, dict):
                    continue
                got = reported.get((host_id, source, version, cve))
                fixed = state.get("fixed_version")
                if state.get("status") == "open":
                    assert got is not None and got.status == "no-fix", (release, source, cve)
                elif state.get("status") == "resolved" and fixed and fixed != "0":
                    vulnerable = _dpkg_lt(version, fixed)  # the oracle
                    assert (got is not None) == vulnerable, (release, source, version, fixed)
                    if got is not None:
                        assert (got.status, got.fixed) == ("fix", fixed)
                else:
                    assert got is None, (release, source, cve)
                checked += 1
    # Every stored entry is one of those checked above (nothing reported from elsewhere).
    for row in rows:
        state = tracker[row.package][row.cve]["releases"]
        assert any(hosts[r] == row.host_id for r in state)
        if row.status == "fix":
            assert _dpkg_lt(row.installed, row.fixed)
    assert checked > 0, "no package of this machine is in the excerpt: nothing was checked"
    print(f"checked {checked} (release, package, CVE) entries against dpkg; {len(rows)} reported")


def test_dpkg_order_equals_dpkg_on_this_machine_s_versions(inventory: dict) -> None:
    """The comparator against dpkg on this machine's real source versions (epochs, "~",
    "+debNuM", "+bN") and the excerpt's fixed versions."""
    versions = sorted({s["source_version"] for s in inventory["software"]
                       if s.get("source_version")})[:: 5][:200]  # fmt: skip
    fixed = ["98.0.4758.80-1~deb11u1", "5.8.0-1+deb12u1", "1:2.38.1-5+deb12u3", "2.36-9+deb12u10"]
    assert len(versions) > 20
    for version in versions:
        for other in fixed:
            assert dpkg_less(version, other) == _dpkg_lt(version, other), (version, other)
