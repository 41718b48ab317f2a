"""For every test: the slowest tests start first.

With `-n auto` the run ends when the last worker does. Tests that take many seconds each
(real servers, browsers, processes killed and restarted) collected last would leave one
worker running them while the other is idle; started first, the short tests fill the end
of the run on both workers. pyproject.toml's `--dist worksteal` lets an idle worker take
queued tests from the other one.
"""

from __future__ import annotations

import pytest

# The slowest tests of a whole run (`-n 2`, CI=true), slowest first; all parameters of each.
SLOWEST_FIRST = (
    "tests/web/test_browser.py::test_axe_finds_no_violation_on_any_page",
    "tests/integration/test_replicas_faults.py::test_kill_9_of_a_replica_under_load_loses_no_acknowledged_report",
    "tests/integration/test_collector_e2e.py::test_enroll_run_once_and_read_back",
    "tests/collector/test_history_model.py::test_host_state_follows_the_model",
    "tests/integration/test_replicas_faults.py::test_postgres_restarted_under_load_gives_only_503_and_recovers",
    "tests/integration/test_prometheus_rules.py::test_rule_unit_tests_pass",
    "tests/integration/test_collector_e2e.py::test_tls_with_ca_file",
    "tests/integration/test_replicas_faults.py::test_a_full_disk_gives_503_the_agents_keep_their_reports_and_ingest_resumes",
    "tests/web/test_browser.py::test_every_new_page_by_keyboard_without_javascript",
    "tests/agent_service/test_service_e2e.py::test_sigkill_during_a_send_loses_and_duplicates_nothing",
    "tests/web/test_browser.py::test_keyboard_walk",
    "tests/integration/test_replicas_metrics.py::test_inventory_through_haproxy_equals_one_collector_and_prometheus_counts_once",
    "tests/integration/test_prometheus.py::test_prometheus_scrapes_the_collector",
    "tests/integration/test_discovery_netns.py::test_discovery_finds_the_three_hosts_and_sends_them",
    "tests/agent_service/test_service_e2e.py::test_a_collector_restored_from_backup_gets_a_full_report",
    "tests/integration/test_ssh.py::test_cli_collects_this_machine_like_the_local_agent",
    "tests/agent_service/test_service_e2e.py::test_outage_queues_reports_and_they_arrive_in_order_once",
    "tests/collector/test_replicas.py::test_a_replica_killed_mid_job_its_tick_runs_once_elsewhere",
    "tests/collector/test_vulns.py::test_windows_11_23h2_one_cumulative_update_behind_is_vulnerable",
    "tests/integration/test_security_review.py::test_a_secret_cannot_take_over_a_host_of_another_site",
    "tests/web/test_audit.py::test_every_change_through_the_web_ui_is_recorded_once_with_the_person",
    "tests/web/test_browser.py::test_no_page_scrolls_sideways_at_320_px",
    "tests/collector/test_replicas.py::test_each_tick_runs_once_across_three_processes",
    "tests/integration/test_replicas_faults.py::test_an_oversized_report_gets_a_413_that_urllib_can_read",
)
_RANK = {name: rank for rank, name in enumerate(SLOWEST_FIRST)}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of SLOWEST_FIRST first, in its order; the others keep theirs (a stable
    sort: the same order in every xdist worker, as xdist requires)."""
    items.sort(key=lambda item: _RANK.get(item.nodeid.split("[", 1)[0], len(_RANK)))
