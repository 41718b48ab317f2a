"""The agent-token cache is a bounded LRU: past its size the least recently used agent goes,
one at a time; it never empties itself (the old cache cleared all 50,000 entries at once)."""

from __future__ import annotations

import pytest

from collector.api.ingest_endpoint import AgentCache
from collector.security import hash_secret
from tests.collector.conftest import Env


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_least_recently_used_agent_is_dropped_and_no_more(env: Env) -> None:
    hashes = {m: hash_secret(env.enroll(m)[1]) for m in ("a1", "a2", "a3", "a4", "a5")}
    cache = AgentCache(max_entries=3)
    for m in ("a1", "a2", "a3"):
        agent = cache.get(env.db, hashes[m])
        assert agent is not None and agent.machine_id == m
    assert cache.cached(env.db, hashes["a1"]) is not None  # a1 used again: a2 is the oldest
    assert cache.get(env.db, hashes["a4"]) is not None
    assert len(cache) == 3
    assert cache.cached(env.db, hashes["a2"]) is None
    assert {m for m in ("a1", "a3", "a4") if cache.cached(env.db, hashes[m])} == {"a1", "a3", "a4"}
    # Evicted is not forgotten: the database still knows it, and it comes back in.
    again = cache.get(env.db, hashes["a2"])
    assert again is not None and again.machine_id == "a2"
    assert cache.get(env.db, hashes["a5"]) is not None
    assert len(cache) == 3  # full, never flushed
    assert cache.cached(env.db, hashes["a5"]) is not None
    assert cache.get(env.db, hash_secret("inv_agt_unknown")) is None
    assert len(cache) == 3
