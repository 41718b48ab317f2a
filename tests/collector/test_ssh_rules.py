"""The pure rules of agentless collection: jump host names, and the refusal of a report that
lacks what identifies a host."""

from __future__ import annotations

import pytest

from agent.schema import Report, convert
from collector.ssh.access import Way, check_basics
from collector.ssh.names import parse_jump
from collector.ssh.session import SshError
from tests.collector.helpers import make_report


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("admin@jump.stadt.example", ("admin", "jump.stadt.example", 22)),
        ("admin@10.0.0.1:2222", ("admin", "10.0.0.1", 2222)),
        ("admin@[2001:db8::1]:2200", ("admin", "2001:db8::1", 2200)),
        ("admin@[2001:db8::1]", ("admin", "2001:db8::1", 22)),
        ("admin@2001:db8::1", ("admin", "2001:db8::1", 22)),  # unbracketed v6: no port
    ],
)
def test_jump_hosts_are_read_as_openssh_writes_them(text: str, expected: tuple) -> None:
    assert parse_jump(text) == expected


@pytest.mark.parametrize(
    "text", ["jump.example", "@jump", "admin@", "admin@host:0", "admin@host:99999",
             "admin@host:ssh", "admin@[::1", "admin@[::1]x"],
)  # fmt: skip
def test_a_malformed_jump_host_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="jump host"):
        parse_jump(text)


def test_a_report_without_its_basics_is_refused_with_the_probes_reasons() -> None:
    data = make_report()
    data["host"]["machine_id"] = "m-1"  # the schema requires one: cleared below
    data["os"] = {"family": "linux"}
    data["collection"]["errors"] = [
        {"probe": "host", "message": "/etc/machine-id: Permission denied"},
        {"probe": "os", "message": "/etc/os-release: cat not found on the host"},
        {"probe": "wlan", "message": "nmcli: not-found"},
    ]
    report = convert(data, Report)
    assert report.host is not None
    report.host.machine_id = None
    way = Way(runner=None, files=None, files_via="exec", sftp_refused="SFTP unavailable")  # type: ignore[arg-type]
    with pytest.raises(SshError) as caught:
        check_basics("inv@[10.0.0.9]:22", report, way)
    message = caught.value.message
    assert message.startswith("inv@[10.0.0.9]:22: the basics could not be read (machine id, OS)")
    assert "/etc/machine-id: Permission denied" in message
    assert "cat not found" in message and "nmcli" not in message
    assert "files via exec" in message


def test_a_report_with_its_basics_passes() -> None:
    report = convert(make_report(), Report)
    way = Way(runner=None, files=None, files_via="SFTP")  # type: ignore[arg-type]
    check_basics("root@h", report, way)
