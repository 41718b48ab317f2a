"""The Windows probes over the registry and the Windows Update Agent: record a machine into a
bundle and replay it to the same report; damaged, empty and linked bundle parts give nulls
and collection.errors, never a crash; monitors from the EDIDs Windows keeps."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.bundle import REGISTRY_FILE, UPDATE_AGENT_FILE, Recorder, open_bundle
from agent.parsers import regfile
from agent.parsers.edid import parse_edid
from agent.parsers.regfile import RegValue
from agent.probes.windows import displays, software
from agent.registry import RegfileRegistry
from agent.report import collect
from agent.schema import Report, encode, object_data
from agent.sources import JSON, NotRecorded, View
from tests.fakes import FixtureRunner, context, machine
from tests.needs import missing
from tests.windows_bundles import CORPUS, FIXTURES, WINDOWS, assemble, merged_registry, part_path

GLPI = CORPUS / "windows" / "glpi-agent-registry"


class ExportAsMachine:
    """A 'live' registry that is exactly one real export: what it lacks is absent."""

    def __init__(self, reg: regfile.RegFile) -> None:
        self.source = RegfileRegistry(reg)

    def values(self, key: str, view: View = 64) -> dict[str, RegValue] | None:
        try:
            return self.source.values(key, view)
        except NotRecorded:
            return None

    def subkeys(self, key: str, view: View = 64) -> list[str] | None:
        try:
            return self.source.subkeys(key, view)
        except NotRecorded:
            return None


class FakeUpdateAgent:
    def __init__(self, pending: list[dict[str, JSON]] | Exception, history: list[dict[str, JSON]]):
        self.pending = pending
        self.entries = history

    def search(self, criteria: str) -> list[dict[str, JSON]]:
        if isinstance(self.pending, Exception):
            raise self.pending
        return self.pending

    def history(self, count: int) -> list[dict[str, JSON]]:
        return self.entries[:count]

    def reboot_required(self) -> bool:
        return False


def windows_machine(name: str, pending: list[dict[str, JSON]] | Exception | None = None) -> Any:
    """A Windows machine that is one composite bundle's parts, answering like a live one."""
    sources = [part_path(p["source"]) for p in json.loads(
        (FIXTURES / name / "bundle.json").read_text(encoding="utf-8"))["parts"]
        if p["part"] == "registry"]  # fmt: skip
    live = machine(FixtureRunner(), platform="windows")
    live.registry = ExportAsMachine(merged_registry(sources))
    cnquery = json.loads((FIXTURES / "windows-outputs/wua-pending-server2019.txt").read_text())
    history = json.loads(
        (FIXTURES / "windows-update-agent/history-de-win10-21h1.json").read_text("utf-8")
    )
    live.update_agent = FakeUpdateAgent(cnquery if pending is None else pending, history)
    return live


def facts(report: Report) -> dict[str, Any]:
    data = object_data(report)
    for volatile in ("report_id", "collected_at", "collection"):
        data.pop(volatile)
    return data


def test_recording_then_replay_gives_the_same_report(tmp_path):
    live = windows_machine("windows-10-de-laptop")
    recorder = Recorder(live, tmp_path / "bundle", source="test")
    recorded = collect(recorder.machine())
    recorder.finish()
    data = (tmp_path / "bundle" / REGISTRY_FILE).read_bytes()
    assert data.startswith(b"\xff\xfeW\x00i\x00n\x00")  # regedit's form: UTF-16LE, its mark
    text = regfile.decode(data)
    assert text.startswith("Windows Registry Editor Version 5.00\r\n")
    # The 32-bit view was read, and absent on this machine: recorded as deleted.
    assert (
        "[-HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\"
        "Uninstall]" in text
    )
    replayed = collect(open_bundle(tmp_path / "bundle"))
    assert facts(replayed) == facts(recorded)
    assert recorded.software is not None and len(recorded.software) == 11
    assert recorded.patches is not None and recorded.patches.pending_security_count == 2
    assert recorded.security is not None and recorded.security.smb1 is False
    # What the machine lacked (no WOW6432Node, no RebootRequired key) is no error in replay.
    messages = [e.message for e in replayed.collection.errors]
    assert not any("not in the support bundle's registry.reg" in m for m in messages), messages


def test_a_failed_com_call_is_recorded_and_replayed_as_failed(tmp_path):
    error = OSError(-2145107924, "0x8024402C: the update server cannot be reached")
    recorder = Recorder(windows_machine("windows-11-en-laptop", error), tmp_path / "b")
    collect(recorder.machine())
    recorder.finish()
    answers = json.loads((tmp_path / "b" / UPDATE_AGENT_FILE).read_text(encoding="utf-8"))
    assert "0x8024402C" in answers["search"]["IsInstalled=0 and IsHidden=0"]["error"]
    report = collect(open_bundle(tmp_path / "b"))
    assert report.patches is not None
    assert report.patches.pending is None and report.patches.pending_count is None
    assert report.patches.last_install is not None  # the history still replays
    assert any("0x8024402C" in e.message for e in report.collection.errors)


@pytest.fixture(scope="module")
def assembled(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("parts")
    return {name: assemble(name, tmp) for name in WINDOWS}


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "cut": lambda b: b[: len(b) // 2 | 1],
    "garbled": lambda b: b[:2] + bytes(reversed(b[2:])),
    "empty": lambda b: b"",
    "zeros": lambda b: bytes(len(b)),
}


@pytest.mark.parametrize("part", [REGISTRY_FILE, UPDATE_AGENT_FILE])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", WINDOWS)
def test_a_damaged_part_gives_nulls_and_errors(assembled, tmp_path, name, damage, part):
    bundle = tmp_path / name
    shutil.copytree(assembled[name], bundle)
    path = bundle / part
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    report = collect(open_bundle(bundle))
    messages = [e.message for e in report.collection.errors]
    assert not [m for m in messages if m.startswith("internal error")], messages
    assert report.patches is not None and report.security is not None
    if part == UPDATE_AGENT_FILE:
        assert report.patches.pending is None and report.patches.last_install is None
        assert any(UPDATE_AGENT_FILE in m for m in messages)
        assert report.software  # the registry part still replays
    elif damage != "cut":  # a cut export may still hold its first keys
        assert report.software is None and report.security.smb1 is None
        assert report.patches.update_policy is None and report.patches.reboot_required is None
        assert any(REGISTRY_FILE in m for m in messages)
        assert report.patches.pending_count == 6  # the COM part still replays
    json.loads(encode(report).decode())


@pytest.mark.parametrize("part", [REGISTRY_FILE, UPDATE_AGENT_FILE])
def test_a_linked_part_is_refused(assembled, tmp_path, part):
    """A link in place of a registry or COM recording would report the replaying machine's
    (or any) file as the recorded machine's registry: refused, said under probe files."""
    bundle = tmp_path / "linked"
    shutil.copytree(assembled["windows-10-de-laptop"], bundle)
    outside = tmp_path / "outside"
    outside.write_bytes((bundle / part).read_bytes())
    (bundle / part).unlink()
    os.symlink(outside, bundle / part)
    report = collect(open_bundle(bundle))
    refused = [e.message for e in report.collection.errors if e.probe == "files"]
    assert any(part in m and "refused" in m for m in refused), refused
    assert report.patches is not None and report.security is not None
    if part == REGISTRY_FILE:
        assert report.software is None and report.security.rdp is None
    else:
        assert report.patches.pending is None


@pytest.mark.parametrize(
    "name", ["xp-Uninstall.reg", "10_russian-Uninstall.reg", "mssql-Uninstall.reg"]
)
@pytest.mark.parametrize("damage", ["whole", *sorted(DAMAGE)])
def test_software_probe_on_each_real_uninstall_export(name, damage):
    path = GLPI / name
    if not path.exists():
        missing(f"the shared corpus file {path}")
    data = path.read_bytes() if damage == "whole" else DAMAGE[damage](path.read_bytes())
    m = machine(platform="windows")
    try:
        m.registry = RegfileRegistry(regfile.parse(data))
    except (regfile.RegFileError, UnicodeDecodeError):
        return  # replay makes this a broken part: tested above
    ctx, errors = context(m, "software")
    found = software.collect(ctx)
    messages = [msg for _, msg in errors.entries]
    assert any("WOW6432Node" in msg for msg in messages)  # the 32-bit view is not recorded
    if damage == "whole":
        assert found and all(s.name for s in found)
    else:
        assert found is None or isinstance(found, list)


def edid_export(blob: bytes, attached: bool) -> str:
    """A registry export of one monitor under the path Windows documents for it. The EDID
    is real (tests/fixtures/edid); the instance names are made up for the test."""
    key = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Enum\\DISPLAY\\DEL200B"
    lines = ["Windows Registry Editor Version 5.00", ""]
    for instance, present in (("5&1a2b3c4d&0&UID4352", attached), ("4&old&0&UID1", False)):
        lines += [f"[{key}\\{instance}]", ""]
        if present:
            lines += [f"[{key}\\{instance}\\Control]", ""]
        lines += [f"[{key}\\{instance}\\Device Parameters]"]
        lines += [regfile.format_value("EDID", RegValue(regfile.REG_BINARY, blob)), ""]
    return "\r\n".join(lines)


def test_monitor_from_the_edid_windows_keeps():
    blob = (FIXTURES / "edid" / "desktop-DEL200B-1AFCD3FC51C8.bin").read_bytes()
    m = machine(FixtureRunner(), platform="windows")
    m.registry = RegfileRegistry(regfile.parse(edid_export(blob, attached=True)))
    ctx, errors = context(m, "displays")
    [display] = displays.collect(ctx) or []
    edid = parse_edid(blob)
    assert (display.vendor_pnp, display.product_code) == ("DEL", edid.product_code)
    assert (display.width_cm, display.height_cm, display.serial) == (
        edid.width_cm,
        edid.height_cm,
        edid.serial,
    )
    assert display.model == (edid.name or f"0x{edid.product_code:04X}")
    assert display.connector == "DEL200B\\5&1a2b3c4d&0&UID4352"
    assert not errors.entries  # WMI is not asked when the registry names a monitor


def test_no_attached_monitor_falls_back_to_wmi_and_a_bad_edid_is_an_error():
    blob = (FIXTURES / "edid" / "desktop-DEL200B-1AFCD3FC51C8.bin").read_bytes()
    m = machine(FixtureRunner(), platform="windows")
    m.registry = RegfileRegistry(regfile.parse(edid_export(blob, attached=False)))
    ctx, errors = context(m, "displays")
    assert displays.collect(ctx) is None  # WMI: not in this test's runner
    assert any("WmiMonitorBasicDisplayParams" in msg for _, msg in errors.entries)
    m.registry = RegfileRegistry(regfile.parse(edid_export(blob[:100], attached=True)))
    ctx, errors = context(m, "displays")
    displays.collect(ctx)
    assert any("invalid EDID" in msg for _, msg in errors.entries)


# --- the live implementations, against stand-ins of winreg and comtypes ----------------------
# They cannot run on Linux; these check what they ask Windows for and how they map answers.


class FakeKey:
    def __init__(self, values: list[tuple[str, object, int]], subkeys: list[str]) -> None:
        self.values, self.subkeys = values, subkeys

    def __enter__(self) -> FakeKey:
        return self

    def __exit__(self, *args: object) -> None:
        return None


class FakeWinreg:
    HKEY_LOCAL_MACHINE = "HKLM-handle"
    KEY_READ, KEY_WOW64_64KEY, KEY_WOW64_32KEY = 0x20019, 0x0100, 0x0200

    def __init__(self) -> None:
        self.opened: list[tuple[str, str, int]] = []

    def OpenKey(self, hive: str, sub: str, reserved: int, access: int) -> FakeKey:
        self.opened.append((hive, sub, access))
        if sub.endswith("Missing"):
            raise FileNotFoundError(2, "not found")
        return FakeKey([("DisplayName", "7-Zip", 1), ("Blob", bytearray(b"\x01"), 3)], ["A"])

    def QueryInfoKey(self, key: FakeKey) -> tuple[int, int, int]:
        return len(key.subkeys), len(key.values), 0

    def EnumValue(self, key: FakeKey, i: int) -> tuple[str, object, int]:
        return key.values[i]

    def EnumKey(self, key: FakeKey, i: int) -> str:
        return key.subkeys[i]


def test_live_registry_asks_for_the_view_and_maps_values():
    from agent.registry import LiveRegistry

    live = LiveRegistry()
    fake = FakeWinreg()
    live._winreg = fake
    assert live.values("HKLM\\SOFTWARE\\X", 32) == {
        "DisplayName": RegValue(regfile.REG_SZ, "7-Zip"),
        "Blob": RegValue(regfile.REG_BINARY, b"\x01"),
    }
    assert live.subkeys("HKLM\\SOFTWARE\\X") == ["A"]
    assert live.values("HKLM\\SOFTWARE\\Missing") is None
    assert fake.opened[0] == ("HKLM-handle", "SOFTWARE\\X", 0x20019 | 0x0200)
    assert fake.opened[1][2] == 0x20019 | 0x0100


class Collection:
    def __init__(self, items: list[object]) -> None:
        self.items = items
        self.Count = len(items)

    def Item(self, i: int) -> object:
        return self.items[i]


class Obj:
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def test_live_update_agent_reads_the_com_properties(monkeypatch):
    import datetime as dt
    import sys
    import types

    security = Obj(CategoryID="0FA1201D-4330-4FA8-8AE9-B877473B6441")
    update = Obj(
        Title="2024-04 Kumulatives Update", KBArticleIDs=Collection(["5036980"]),
        MsrcSeverity="", Categories=Collection([security]),
        RebootRequired=True, Identity=Obj(UpdateID="u-1"),
    )  # fmt: skip
    entry = Obj(
        Title="t", Date=dt.datetime(2024, 4, 26, 20, 7, 35), Operation=1, ResultCode=2,
        Categories=Collection([]), UpdateIdentity=Obj(UpdateID="u-2"),
    )  # fmt: skip
    searcher = Obj(
        Online=True,
        Search=lambda criteria: Obj(Updates=Collection([update])),
        GetTotalHistoryCount=lambda: 1,
        QueryHistory=lambda start, count: Collection([entry]),
    )
    session = Obj(ClientApplicationID="", CreateUpdateSearcher=lambda: searcher)
    created: list[str] = []

    def create(progid: str, dynamic: bool = False) -> object:
        created.append(progid)
        return session if progid == "Microsoft.Update.Session" else Obj(RebootRequired=False)

    client = types.ModuleType("comtypes.client")
    client.CreateObject = create  # type: ignore[attr-defined]
    com = types.ModuleType("comtypes")
    com.client = client  # type: ignore[attr-defined]
    com.COINIT_APARTMENTTHREADED = 2  # type: ignore[attr-defined]
    com.CoInitializeEx = lambda flags: None  # type: ignore[attr-defined]
    com.CoUninitialize = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "comtypes", com)
    monkeypatch.setitem(sys.modules, "comtypes.client", client)
    from agent.wua import LiveUpdateAgent

    agent = LiveUpdateAgent()
    assert agent.search("IsInstalled=0") == [
        {
            "Title": "2024-04 Kumulatives Update",
            "KBArticleIDs": ["5036980"],
            "MsrcSeverity": None,
            "CategoryIDs": ["0fa1201d-4330-4fa8-8ae9-b877473b6441"],
            "RebootRequired": True,
            "UpdateID": "u-1",
        }
    ]
    assert searcher.__dict__["Online"] is False  # from the last scan, no network search
    [record] = agent.history(200)
    assert record["Date"] == "2024-04-26T20:07:35+00:00" and record["Operation"] == 1
    assert agent.reboot_required() is False
    assert created[-1] == "Microsoft.Update.SystemInfo"
