"""ProcCalls answers the probes' psutil calls from /proc, /sys and commands; on this very
machine (local runner and files) its answers must be psutil's."""

from __future__ import annotations

import socket

import psutil
import pytest

from agent.files import RootedFiles
from agent.probes.hardware import _volume_facts
from agent.probes.network import _if_facts, _listening_facts
from agent.runner import LocalRunner
from agent.sources import NotRecorded
from collector.ssh.calls import ProcCalls, address_entry, parse_ip_addr, parse_proc_net
from collector.ssh.runner import remote_command


@pytest.fixture
def calls() -> ProcCalls:
    return ProcCalls(LocalRunner(), RootedFiles())


def test_cpu_and_memory_are_psutils(calls: ProcCalls) -> None:
    assert calls.call("psutil.virtual_memory", lambda: None) == psutil.virtual_memory().total
    counts = calls.call("psutil.cpu_count", lambda: None)
    assert counts == {
        "logical": psutil.cpu_count(logical=True),
        "physical": psutil.cpu_count(logical=False),
    }


def test_interfaces_are_psutils(calls: ProcCalls) -> None:
    mine = calls.call("psutil.net_if", lambda: None)
    theirs = _if_facts()

    def addresses(facts: dict, name: str) -> set[tuple[int, str, str | None]]:
        return {
            (a["family"], a["address"].split("%")[0], a["netmask"]) for a in facts["addrs"][name]
        }

    for name in theirs["addrs"]:
        assert addresses(mine, name) == addresses(theirs, name), name
    for name, stat in theirs["stats"].items():
        assert mine["stats"][name]["up"] == stat["up"], name


def test_listening_sockets_are_psutils(calls: ProcCalls) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for _attempt in range(5):  # other tests open and close listeners meanwhile
            mine = {(s["proto"], s["address"], s["port"]) for s in calls.listening()}
            theirs = {(s["proto"], s["address"], s["port"]) for s in _listening_facts()}
            if mine == theirs:
                break
    assert ("tcp", "127.0.0.1", port) in mine
    assert mine == theirs


def test_volumes_are_psutils(calls: ProcCalls) -> None:
    mine = {v["mount"]: v for v in calls.volumes()}
    theirs = {v["mount"]: v for v in _volume_facts()}
    assert set(mine) == set(theirs)
    for mount, v in theirs.items():
        assert mine[mount]["fstype"] == v["fstype"]
        assert mine[mount]["size"] == v["size"], mount


def test_unknown_calls_are_refused(calls: ProcCalls) -> None:
    with pytest.raises(NotRecorded, match=r"psutil\.boot_time: not available for a remote host"):
        calls.call("psutil.boot_time", lambda: 0)


def test_parsers() -> None:
    text = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "2: eth0@if7    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\\ valid_lft forever\n"
        "2: eth0@if7    inet 10.0.0.6/24 brd 10.0.0.255 scope global secondary eth0:1\\ x\n"
        "2: eth0@if7    inet6 fe80::1/64 scope link \\       valid_lft forever\n"
    )
    assert parse_ip_addr(text) == [
        ("lo", "127.0.0.1", 8),
        ("eth0", "10.0.0.5", 24),
        ("eth0", "10.0.0.6", 24),
        ("eth0", "fe80::1", 64),
    ]
    assert address_entry("fe80::1", 64)["netmask"] == "ffff:ffff:ffff:ffff::"
    assert address_entry("10.0.0.5", 24)["netmask"] == "255.255.255.0"
    tcp = (
        "  sl  local_address rem_address   st\n"
        "   0: 0100007F:1F90 00000000:0000 0A 0\n"
        "   1: 0100007F:1F91 0100007F:D431 01 0\n"
    )
    assert parse_proc_net(tcp, "tcp") == [
        {"proto": "tcp", "address": "127.0.0.1", "port": 8080, "process": None}
    ]
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert remote_command(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n"]) == (
        f"LC_ALL=C LANG=C {path} dpkg-query -W -f '${{Package}}\t${{Version}}\n'"
    )
    assert remote_command(["a b"], {"X": "1;rm"}) == f"LC_ALL=C LANG=C {path} X='1;rm' 'a b'"
    with pytest.raises(ValueError, match="invalid environment variable name"):
        remote_command(["true"], {"X;rm": "1"})


def test_passwords_come_from_the_environment_or_a_0600_file(tmp_path, monkeypatch) -> None:
    from collector.ssh.session import SshError, read_password

    monkeypatch.setenv("INVENTAR_TEST_SSH_PW", "s3cret")
    assert read_password("INVENTAR_TEST_SSH_PW", None) == "s3cret"
    with pytest.raises(SshError, match=r"INVENTAR_TEST_SSH_MISSING .* is not set"):
        read_password("INVENTAR_TEST_SSH_MISSING", None)
    pw = tmp_path / "pw"
    pw.write_text("geheim\n")
    pw.chmod(0o644)
    with pytest.raises(SshError, match="must have mode 0600 \\(it has 0644\\)"):
        read_password(None, str(pw))
    pw.chmod(0o600)
    assert read_password(None, str(pw)) == "geheim"
