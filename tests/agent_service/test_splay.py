"""Splay: agents configured alike and started at the same second spread their first sends
over the splay window (computed from the schedule; nothing waits)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path

from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)

from agent.config import AgentConfig
from agent.scheduler import Service, plan_jobs

NOW = dt.datetime(2025, 9, 1, 8, 0, 0, tzinfo=dt.UTC)  # every school PC boots at 08:00


def test_thousand_agents_spread_their_first_send_over_the_splay_window() -> None:
    config = AgentConfig(splay=300)
    firsts = []
    for n in range(1000):
        plans = plan_jobs(config, NOW, random.Random(n), has_base=True)
        first = min(p.first_fire() for p in plans if p.name != "patches")  # a report goes out
        firsts.append((first - NOW).total_seconds())
    assert all(0 <= s <= 300 for s in firsts)
    per_second = Counter(int(s) for s in firsts)
    assert max(per_second.values()) <= 15  # not all in one second: ~3.3 per second
    assert len(per_second) >= 250  # most seconds of the window see a send
    per_minute = Counter(int(s // 60) for s in firsts)
    assert len(per_minute) == 5 and min(per_minute.values()) >= 120  # evenly spread


def test_a_new_agent_sends_its_full_inventory_first_within_the_splay() -> None:
    config = AgentConfig(splay=120)
    plans = {p.name: p for p in plan_jobs(config, NOW, random.Random(1), has_base=False)}
    full = plans["full"].trigger().get_next_fire_time(None, NOW)
    status = plans["status"].trigger().get_next_fire_time(None, NOW)
    assert NOW <= full <= NOW + dt.timedelta(seconds=120)
    assert status >= NOW + dt.timedelta(seconds=config.status_interval)
    # later runs keep the interval, plus at most the jitter
    after = plans["full"].trigger().get_next_fire_time(full, full)
    assert dt.timedelta(hours=6) <= after - full <= dt.timedelta(hours=6, seconds=12)


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
        plans = {p.name: p for p in plan_jobs(config, NOW, random.Random(n), has_base=True)}
        discovery = plans["discovery"]
        assert discovery.interval_s == 86400 and discovery.jitter_s == 30  # 10 % of the splay
        first = discovery.first_fire()
        firsts.append((first - NOW).total_seconds())
        after = discovery.trigger().get_next_fire_time(first, first)
        assert dt.timedelta(days=1) <= after - first <= dt.timedelta(days=1, seconds=30)
    assert all(0 <= s <= 300 for s in firsts)
    per_minute = Counter(int(s // 60) for s in firsts)
    assert len(per_minute) == 5 and min(per_minute.values()) >= 60  # spread over the window


def test_the_scheduler_gets_these_jobs(tmp_path: Path) -> None:
    service = Service(AgentConfig(splay=300), tmp_path, machine=lambda: None)  # type: ignore[arg-type,return-value]
    scheduler = service.build_scheduler(NOW, random.Random(3), BackgroundScheduler)
    scheduler.start(paused=True)
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {"full", "status", "patches"}
        runs = {name: job.next_run_time for name, job in jobs.items()}
    finally:
        scheduler.shutdown(wait=False)
    # no base yet: the full inventory goes first, within the splay window of NOW, even
    # though the scheduler started a moment after NOW
    assert NOW <= runs["full"] <= NOW + dt.timedelta(seconds=300)
    assert runs["status"] >= NOW + dt.timedelta(minutes=15)
    assert runs["patches"] - NOW >= dt.timedelta(hours=6)
