"""`inventar-agent discover` refuses what it must refuse before sending a single packet:
networks larger than /22 (without --allow-large), bad ports, and a missing CAP_NET_RAW.
The capability test runs in an empty network namespace of its own."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent import oui
from agent.cli_service import format_table
from agent.discover import DiscoveryError, check_network, parse_ports
from tests.needs import missing

AGENT = str(Path(sys.executable).parent / "inventar-agent")


def test_network_bounds() -> None:
    assert str(check_network("198.18.0.7/24")) == "198.18.0.0/24"
    assert check_network("198.18.0.0/22").num_addresses == 1024
    with pytest.raises(DiscoveryError, match="larger than /22 need --allow-large"):
        check_network("198.18.0.0/21")
    assert check_network("198.18.0.0/21", allow_large=True).prefixlen == 21
    with pytest.raises(DiscoveryError, match="too large: at most a /16"):
        check_network("198.0.0.0/8", allow_large=True)
    with pytest.raises(DiscoveryError, match="IPv4 networks only"):
        check_network("2001:db8::/64")
    with pytest.raises(DiscoveryError, match="is not a network"):
        check_network("schule")


def test_ports_and_vendors() -> None:
    assert parse_ports("443, 22,22") == (22, 443)
    assert parse_ports("") == ()
    with pytest.raises(DiscoveryError, match="invalid port"):
        parse_ports("22,70000")
    assert oui.vendor("00:1B:21:00:00:01") == "Intel Corporate"
    assert oui.vendor("02:00:5e:10:00:01") is None  # locally administered
    assert oui.vendor("not a mac") is None


def test_table_format() -> None:
    from agent.discover import Device, Result

    result = Result("eth0", "198.18.0.0/24", "t0", "t1", [Device("198.18.0.2", "aa", "X", [22])])
    assert "198.18.0.2" in format_table(result) and "1 device(s) on eth0" in format_table(result)


def test_the_command_refuses_a_large_network() -> None:
    done = subprocess.run(
        [AGENT, "discover", "--interface", "lo", "--cidr", "198.18.0.0/20"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "networks larger than /22 need --allow-large" in done.stderr


def test_without_cap_net_raw_a_clear_message() -> None:
    if shutil.which("ip") is None or shutil.which("setpriv") is None:
        missing("iproute2 (`ip`) and util-linux (`setpriv`)")
    if os.geteuid() != 0:
        missing("network namespaces need root")
    ns = f"invcap-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        done = subprocess.run(
            ["ip", "netns", "exec", ns, "setpriv", "--bounding-set", "-net_raw",
             "--inh-caps", "-net_raw", AGENT, "discover", "--interface", "lo",
             "--cidr", "198.18.5.0/30"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    assert done.returncode == 77, done.stderr
    assert "needs the CAP_NET_RAW capability" in done.stderr


def test_the_service_schedules_discovery_only_where_configured(tmp_path: Path) -> None:
    from agent.config import AgentConfig, ConfigError, load_config, with_overrides
    from agent.scheduler import Service

    def jobs(config: AgentConfig) -> set[str]:
        service = Service(config, tmp_path / "state", machine=lambda: None)  # type: ignore[arg-type,return-value]
        return set(service.build_timetable().next_runs())

    assert "discovery" not in jobs(AgentConfig())
    assert "discovery" not in jobs(AgentConfig(discovery_interface="eth0"))
    config = AgentConfig(discovery_interface="eth0", discovery_cidr="198.18.0.9/24")
    assert config.discovery_cidr == "198.18.0.0/24" and 9100 in config.discovery_ports
    assert "discovery" in jobs(config)
    assert "discovery" not in jobs(with_overrides(config, {"discovery_interval": 0}))
    bad = tmp_path / "agent.toml"
    bad.write_text('discovery_cidr = "10.0.0.0/8"\n')
    with pytest.raises(ConfigError, match=r"discovery_cidr.*too large"):
        load_config(bad, {})
