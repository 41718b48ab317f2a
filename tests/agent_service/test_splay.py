"""Splay: agents configured alike and started at the same second spread their first sends
over the splay window (computed from the schedule; nothing waits)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path

from agent.config import AgentConfig
from agent.scheduler import Service, plan_jobs

NOW = dt.datetime(2025, 9, 1, 8, 0, 0, tzinfo=dt.UTC)  # every school PC boots at 08:00


def test_thousand_agents_spread_their_first_send_over_the_splay_window() -> None:
    config = AgentConfig(splay=300)
    firsts = []
    for n in range(1000):
        plans = plan_jobs(config, NOW, random.Random(n), has_base=True)
        rng = random.Random(n + 10_000)
        first = min(p.first_fire(rng) for p in plans if p.name != "patches")  # a report goes out
        firsts.append((first - NOW).total_seconds())
    assert all(0 <= s <= 300 for s in firsts)
    per_second = Counter(int(s) for s in firsts)
    assert max(per_second.values()) <= 15  # not all in one second: ~3.3 per second
    assert len(per_second) >= 250  # most seconds of the window see a send
    per_minute = Counter(int(s // 60) for s in firsts)
    assert len(per_minute) == 5 and min(per_minute.values()) >= 120  # evenly spread


def test_a_new_agent_sends_its_full_inventory_first_within_the_splay() -> None:
    config = AgentConfig(splay=120)
    rng = random.Random(1)
    plans = {p.name: p for p in plan_jobs(config, NOW, rng, has_base=False)}
    full = plans["full"].first_fire(rng)
    status = plans["status"].first_fire(rng)
    assert NOW <= full <= NOW + dt.timedelta(seconds=120)
    assert status >= NOW + dt.timedelta(seconds=config.status_interval)
    # later runs keep the interval (on the first run's slot), plus at most the jitter
    slot = plans["full"].first_run
    after = plans["full"].next_fire(full + dt.timedelta(minutes=3), rng)
    assert slot + dt.timedelta(hours=6) <= after <= slot + dt.timedelta(hours=6, seconds=12)


def test_a_restart_does_not_resend_the_full_inventory_early() -> None:
    config = AgentConfig(splay=60)
    last_full = NOW - dt.timedelta(hours=1)
    plans = {
        p.name: p
        for p in plan_jobs(config, NOW, random.Random(2), has_base=True, last_full_at=last_full)
    }
    assert plans["full"].first_run >= NOW + dt.timedelta(hours=5)
    assert plans["status"].first_run <= NOW + dt.timedelta(seconds=60)


def test_a_configured_discovery_is_one_more_job_with_the_same_splay() -> None:
    config = AgentConfig(splay=300, discovery_interface="eth0", discovery_cidr="198.18.0.0/24")
    unconfigured = plan_jobs(AgentConfig(), NOW, random.Random(0), has_base=True)
    assert "discovery" not in {p.name for p in unconfigured}
    firsts = []
    for n in range(500):
        rng = random.Random(n)
        plans = {p.name: p for p in plan_jobs(config, NOW, rng, has_base=True)}
        discovery = plans["discovery"]
        assert discovery.interval_s == 86400 and discovery.jitter_s == 30  # 10 % of the splay
        first = discovery.first_fire(rng)
        firsts.append((first - NOW).total_seconds())
        after = discovery.next_fire(first, rng)
        slot = discovery.first_run + dt.timedelta(days=1)
        assert slot <= after <= slot + dt.timedelta(seconds=30)
    assert all(0 <= s <= 300 for s in firsts)
    per_minute = Counter(int(s // 60) for s in firsts)
    assert len(per_minute) == 5 and min(per_minute.values()) >= 60  # spread over the window


def test_the_timetable_gets_these_jobs(tmp_path: Path) -> None:
    service = Service(AgentConfig(splay=300), tmp_path, machine=lambda: None)  # type: ignore[arg-type,return-value]
    timetable = service.build_timetable(NOW, random.Random(3))
    runs = {
        name: dt.datetime.fromtimestamp(at, dt.UTC) for name, at in timetable.next_runs().items()
    }
    assert set(runs) == {"full", "status", "patches"}
    # no base yet: the full inventory goes first, within the splay window of NOW, even
    # though the scheduler started a moment after NOW
    assert NOW <= runs["full"] <= NOW + dt.timedelta(seconds=300)
    assert runs["status"] >= NOW + dt.timedelta(minutes=15)
    assert runs["patches"] - NOW >= dt.timedelta(hours=6)
