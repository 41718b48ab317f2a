"""A host's state after any sequence of full reports, deltas, resends, lost and reordered
reports equals an in-memory model of it (hypothesis' rule-based state machine), on SQLite and
PostgreSQL: the API's host view, the stored rows, and each past state the history rebuilds.

The agent's side is played with its own code (agent.delta.wire_body and a base it keeps as
the real agent does); the collector's side of the model is the sections of the latest report
it applied. A delta whose base the collector does not hold is refused with 409 need_full,
and the agent then sends a full inventory: the model predicts when.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from agent import delta
from agent.schema import SECTIONS, Report, convert, object_data
from collector.sections import stable
from tests.collector.conftest import Env
from tests.collector.helpers import make_report

T0 = dt.datetime(2026, 5, 4, 7, 0, tzinfo=dt.UTC)
# What the agent's next report changes: volatile values, lasting ones, or nothing.
EDITS = ("nothing", "free-space", "signal", "boot", "package-update", "package-added",
         "package-removed", "monitor", "firewall", "os-build")  # fmt: skip


def dump(report: dict[str, Any]) -> dict[str, Any]:
    return object_data(convert(report, Report))


def edit(report: dict[str, Any], what: str, n: int) -> None:
    """Changes the agent's machine as ``what`` says (``n`` makes values differ)."""
    if what == "free-space":
        report["hardware"]["volumes"][0]["free_bytes"] = 1000 + n
    elif what == "signal":
        report["wlan"]["interfaces"][0]["signal_dbm"] = -40 - n % 50
    elif what == "boot":
        report["os"]["boot_time"] = (T0 + dt.timedelta(seconds=n)).isoformat()
    elif what == "package-update" and report["software"]:
        report["software"][n % len(report["software"])]["version"] = f"2.{n}"
    elif what == "package-added":
        report["software"].append({"name": f"extra-{n}", "version": "1.0", "publisher": None})
    elif what == "package-removed" and report["software"]:
        report["software"].pop(n % len(report["software"]))
    elif what == "monitor":
        displays = report["displays"]
        if len(displays) > 1:
            displays.pop()
        else:
            displays.append({"connector": "card0-HDMI-A-1", "vendor_pnp": "GSM", "serial": str(n)})
    elif what == "firewall":
        report["security"]["firewall"] = not report["security"]["firewall"]
    elif what == "os-build":
        report["os"]["build"] = f"b{n}"


class HostModel(RuleBasedStateMachine):
    """One agent, one host; a fresh host for every example."""

    env: Env

    def __init__(self) -> None:
        super().__init__()
        self.machine_id = f"m-{uuid.uuid4().hex[:12]}"
        _agent, self.token = self.env.enroll(self.machine_id)
        report = make_report(self.machine_id, software=4, collected_at=T0)
        report["hardware"]["volumes"] = [{"mount": "/", "size_bytes": 1 << 30, "free_bytes": 1}]
        report["security"] = {"firewall": True}
        self.machine = dump(report)  # what the agent sees now
        self.base: delta.Base | None = None  # the agent's: what the collector acknowledged
        self.clock = 0  # minutes after T0
        self.n = 0
        self.host_id: int | None = None
        # The collector, as the model sees it: the sections of the latest applied report.
        self.state: dict[str, Any] | None = None
        self.latest: dt.datetime | None = None
        self.sent: list[tuple[dict[str, Any], bytes]] = []  # bodies the collector stored
        self.after: dict[str, dict[str, Any]] = {}  # report id -> state after it (applied)

    # --- the agent ----------------------------------------------------------------------

    def _next(self, what: str) -> dict[str, Any]:
        """The agent collects its next report."""
        self.n += 1
        self.clock += 15
        machine = json.loads(json.dumps(self.machine))  # earlier reports stay as they were
        edit(machine, what, self.n)
        collected = T0 + dt.timedelta(minutes=self.clock)
        report = dump({**machine, "report_id": str(uuid.uuid4()),
                       "collected_at": collected.isoformat()})  # fmt: skip
        self.machine = report
        return report

    def _body(self, report: dict[str, Any], full: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        base = None if full else self.base
        return delta.wire_body(report, SECTIONS, base)

    def _post(self, body: dict[str, Any]) -> Any:
        raw = json.dumps(body).encode()
        r = self.env.client.post(
            "/api/v1/reports", content=raw,
            headers={**self.env.auth(self.token), "Content-Type": "application/json"},
        )  # fmt: skip
        return r, raw

    def _expect(self, report: dict[str, Any], body: dict[str, Any]) -> int:
        """The status the collector must answer ``body`` (of ``report``) with, and the model's
        collector side after it."""
        if body.get("delta") is not None:
            assert self.state is not None and self.base is not None
            carried = set(body) & set(SECTIONS)
            held = {s: delta.section_hash(self.state[s]) for s in SECTIONS}
            wanted = body["delta"]["section_hashes"]
            if any(held[s] != wanted[s] for s in SECTIONS if s not in carried):
                return 409
        collected = dt.datetime.fromisoformat(report["collected_at"])
        if self.latest is None or collected >= self.latest:
            self.state = {s: report[s] for s in SECTIONS}
            self.latest = collected
            self.after[report["report_id"]] = dict(self.state)
        return 201

    def _send(self, report: dict[str, Any], *, full: bool, acked: bool = True) -> None:
        body, current = self._body(report, full)
        expected = self._expect(report, body)
        r, raw = self._post(body)
        assert r.status_code == expected, (r.status_code, r.text)
        if expected == 409:
            assert r.json()["need_full"] is True
            self.base = None  # the agent's next report is a full one
            return
        self.host_id = r.json()["host_id"]
        self.sent.append((report, raw))
        if acked:  # the agent got the answer: the collector holds this state
            self.base = delta.Base(report["report_id"], current)

    # --- rules -----------------------------------------------------------------------------

    @rule(what=st.sampled_from(EDITS))
    def report(self, what: str) -> None:
        """The agent's next report: a delta once a full one was acknowledged."""
        self._send(self._next(what), full=self.base is None)

    @rule(what=st.sampled_from(EDITS))
    def full_report(self, what: str) -> None:
        """A full inventory (its schedule, or a new base after a reinstall)."""
        self._send(self._next(what), full=True)

    @rule(what=st.sampled_from(EDITS))
    def answer_lost(self, what: str) -> None:
        """The collector stores the report, the agent never sees the answer: it keeps its
        old base, and resends the report (below)."""
        self._send(self._next(what), full=self.base is None, acked=False)

    @rule(what=st.sampled_from(EDITS))
    def lost(self, what: str) -> None:
        """A report collected and lost before the collector got it (its outbox dropped it)."""
        self._next(what)

    @rule(pick=st.integers(min_value=0, max_value=1000))
    def resend(self, pick: int) -> None:
        """A body the collector stored comes again (an outbox resend): a duplicate."""
        if not self.sent:
            return
        _report, raw = self.sent[pick % len(self.sent)]
        r = self.env.client.post(
            "/api/v1/reports", content=raw,
            headers={**self.env.auth(self.token), "Content-Type": "application/json"},
        )  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "duplicate", r.text

    @rule(first=st.sampled_from(EDITS), then=st.sampled_from(EDITS))
    def reordered(self, first: str, then: str) -> None:
        """Two reports arrive in the wrong order: the newer one first, then the older one
        (from the outbox), which is stored but leaves the newer state."""
        older = self._next(first)
        newer = self._next(then)
        self._send(newer, full=self.base is None)
        self._send(older, full=True, acked=False)

    # --- what must hold ---------------------------------------------------------------------

    @invariant()
    def host_view_equals_the_model(self) -> None:
        if self.host_id is None or self.state is None:
            return
        env, host_id = self.env, self.host_id
        view = env.client.get(f"/api/v1/hosts/{host_id}", headers=env.auth(env.viewer)).json()
        for section in SECTIONS:
            assert view["report"][section] == self.state[section], section
        with env.db.engine.connect() as conn:
            software = conn.execute(
                sa.text("SELECT name, version FROM software WHERE host_id = :h"), {"h": host_id}
            ).all()
            displays = conn.execute(
                sa.text("SELECT connector, serial FROM displays WHERE host_id = :h"),
                {"h": host_id},
            ).all()
        assert sorted(software) == sorted((p["name"], p["version"]) for p in self.state["software"])
        assert sorted(displays, key=str) == sorted(
            ((d["connector"], d["serial"]) for d in self.state["displays"]), key=str
        )

    def teardown(self) -> None:
        """Every applied report's state, rebuilt from the history, is the model's."""
        if self.host_id is None:
            return
        env = self.env
        for report_id, expected in self.after.items():
            r = env.client.get(f"/api/v1/hosts/{self.host_id}/reports/{report_id}",
                               headers=env.auth(env.viewer))  # fmt: skip
            assert r.status_code == 200, r.text
            rebuilt = r.json()["report"]
            for section in SECTIONS:
                assert stable(section, rebuilt[section]) == stable(section, expected[section]), (
                    report_id, section)  # fmt: skip


def test_host_state_follows_the_model(env: Env) -> None:
    HostModel.env = env
    run_state_machine_as_test(
        HostModel,
        settings=settings(
            max_examples=25 if env.db.is_sqlite else 12,
            stateful_step_count=15,
            derandomize=True,  # the same examples in every run (CI)
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
