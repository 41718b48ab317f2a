"""The registry export parser, the Uninstall filter and the Windows Update classification on
real data: glpi-agent's 30 regedit exports and wesng's update lists (read in place from
../shared/corpus), mondoo's WUA capture, and German titles quoted from a public source.
Every real file is also parsed cut, garbled and empty: a clear error or fewer facts, never a
crash."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from agent.parsers import regfile, uninstall, windows_settings, wua
from agent.parsers.regfile import REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_SZ, RegValue
from agent.registry import RegfileRegistry, view_path
from tests.needs import missing
from tests.windows_bundles import CORPUS, FIXTURES

GLPI = CORPUS / "windows" / "glpi-agent-registry"
WESNG = CORPUS / "windows" / "wesng-validation"
GLPI_FILES = [
    "10-DNSRegisteredAdapters.reg", "10-DomainProfile.reg", "10-Interfaces.reg",
    "10-NetworkList.reg", "10-PublicProfile.reg", "10-StandAlone-LogonUI.reg",
    "10-StandardProfile.reg", "10_russian-Uninstall.reg", "11-AzureAD-LogonUI.reg",
    "2003-CentralProcessor.reg", "2003R2-Hotfix-CentralProcessor.reg",
    "2003SP2-CentralProcessor.reg", "2008-with-2-different-cpus-CentralProcessor.reg",
    "2019-amd-epyc-CentralProcessor.reg", "7-AD-LogonUI.reg", "7-CentralProcessor.reg",
    "7_firewall-DNSRegisteredAdapters.reg", "7_firewall-DomainProfile.reg",
    "7_firewall-Interfaces.reg", "7_firewall-NetworkList.reg", "7_firewall-PublicProfile.reg",
    "7_firewall-StandardProfile.reg", "mssql-Uninstall.reg", "mssql_engine-Uninstall.reg",
    "office_2010_1.reg", "office_2010_2.reg", "office_2016_01.reg", "office_2016_02.reg",
    "xp-CentralProcessor.reg", "xp-Uninstall.reg",
]  # fmt: skip
FIXTURE_REG = sorted(p.name for p in (FIXTURES / "windows-registry").glob("*.reg"))
UNINSTALL = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"


def corpus(path: Path) -> bytes:
    if not path.exists():
        missing(f"the shared corpus file {path}")
    return path.read_bytes()


def glpi(name: str) -> regfile.RegFile:
    return regfile.parse(corpus(GLPI / name))


def uninstall_keys(reg: regfile.RegFile) -> list[dict[str, RegValue]]:
    source = RegfileRegistry(reg)
    return [source.values(f"{UNINSTALL}\\{n}") or {} for n in source.subkeys(UNINSTALL) or []]


@pytest.mark.parametrize("name", GLPI_FILES)
def test_every_real_export_parses_and_round_trips(name):
    data = corpus(GLPI / name)
    assert data.startswith(b"\xff\xfe")  # regedit: UTF-16LE with its mark
    reg = regfile.parse(data)
    assert reg.keys
    again = regfile.parse(regfile.encode(regfile.format_file(reg)))
    assert again.keys.keys() == reg.keys.keys()
    assert all(again.keys[k].values == reg.keys[k].values for k in reg.keys)


DAMAGE = {
    "cut": lambda b: b[: len(b) // 2 | 1],  # odd: also cuts a UTF-16 code unit in half
    "empty": lambda b: b"",
    "garbled": lambda b: b[:2] + bytes(reversed(b[2:])),
    "header only": lambda b: b[: b.find(b"\r\x00\n\x00") + 4],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", GLPI_FILES + FIXTURE_REG)
def test_damaged_exports_give_a_clear_error_or_fewer_keys(name, damage):
    path = GLPI / name if name in GLPI_FILES else FIXTURES / "windows-registry" / name
    data = DAMAGE[damage](corpus(path))
    try:
        reg = regfile.parse(data)
    except (regfile.RegFileError, UnicodeDecodeError) as exc:
        assert str(exc)
        return
    whole = regfile.parse(path.read_bytes())
    assert set(reg.keys) <= set(whole.keys)


def test_values_of_every_type_as_windows_gives_them():
    reg = glpi("10_russian-Uninstall.reg")
    key = RegfileRegistry(reg).values(f"{UNINSTALL}\\{{50F91F80-D397-437C-B0C8-62128DE3B55E}}")
    assert key is not None
    assert key["DisplayName"] == RegValue(REG_SZ, "КриптоПро CSP")
    assert key["HelpLink"] == RegValue(REG_EXPAND_SZ, "https://support.cryptopro.ru/")
    assert key["Version"] == RegValue(REG_DWORD, 0x05002EE0)
    assert key["InstallLocation"].data == "C:\\Program Files (x86)\\Crypto Pro\\CSP\\"
    cpu = glpi("2008-with-2-different-cpus-CentralProcessor.reg").key(
        "HKLM\\HARDWARE\\DESCRIPTION\\System\\CentralProcessor\\0"
    )
    assert cpu is not None
    # A "dword" (hex(4)) of eight bytes, as this Server 2008 stores FeatureSet: kept as bytes.
    assert cpu.values["featureset"][1] == RegValue(REG_DWORD, bytes.fromhex("fe3f1b2100000000"))
    assert cpu.values["update signature"][1] == RegValue(REG_BINARY, bytes(4) + b"\x19" + bytes(3))


def test_a_string_with_line_breaks_as_regedit_writes_it():
    key = glpi("xp-Uninstall.reg").key(
        f"{UNINSTALL}\\{{0A0CADCF-78DA-33C4-A350-CD51849B9702}}.KB2416472"
    )
    assert key is not None
    comments = key.values["comments"][1].data
    assert isinstance(comments, str)
    assert comments.startswith("This security update is for Microsoft .NET Framework 4 Ext")
    assert "4 Extended.\r\nIf you later install" in comments
    assert comments.endswith("visit http://support.microsoft.com/kb/2416472.")
    assert key.values["displayversion"][1] == RegValue(REG_SZ, "1")


def test_deleted_keys_are_absent_and_unrecorded_keys_unknown():
    reg = regfile.parse(
        "Windows Registry Editor Version 5.00\r\n\r\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Gone]\r\n\r\n"
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\A\\B]\r\n"x"=dword:00000001\r\n"y"=-\r\n'
    )
    source = RegfileRegistry(reg)
    assert source.values("HKLM\\SOFTWARE\\Gone") is None
    assert source.subkeys("HKLM\\SOFTWARE\\Gone\\Below") is None
    assert source.values("HKLM\\SOFTWARE\\A\\B", 32) == {"x": RegValue(REG_DWORD, 1)}
    assert source.subkeys("hklm\\software\\a", 32) == ["B"]  # case-insensitive, implied key
    with pytest.raises(LookupError, match="not in"):
        source.values("HKLM\\SOFTWARE\\A\\B")  # the 64-bit view was not recorded
    assert view_path("HKLM\\SYSTEM\\X", 32) == "HKEY_LOCAL_MACHINE\\SYSTEM\\X"


@pytest.mark.parametrize(
    "text",
    [
        "REGEDIT5\r\n",
        'Windows Registry Editor Version 5.00\r\n"v"="outside a key"\r\n',
        "Windows Registry Editor Version 5.00\r\n[HKEY_NOWHERE\\X]\r\n",
        'Windows Registry Editor Version 5.00\r\n[HKEY_USERS\\X]\r\n"v"=dword:123456789\r\n',
        'Windows Registry Editor Version 5.00\r\n[HKEY_USERS\\X]\r\n"v"=hex:00,\\\r\n',
        'Windows Registry Editor Version 5.00\r\n[HKEY_USERS\\X]\r\n"v"="open\r\n',
    ],
)
def test_bad_exports_are_refused_naming_why(text):
    with pytest.raises(regfile.RegFileError):
        regfile.parse(text)


def test_uninstall_keys_of_windows_xp():
    keys = uninstall_keys(glpi("xp-Uninstall.reg"))
    assert len(keys) == 534  # 536 key headers: Uninstall, 534 below it, one nested deeper
    found = uninstall.programs(keys)
    # Counted independently with awk over the export: DisplayName set, no
    # SystemComponent=1, no ParentKeyName, no update ReleaseType, each name/version once.
    assert len(found) == 62
    names = {p.name for p in found}
    assert "WinSCP 4.0.7" in names and "Microsoft Office Professional Plus 2010" in names
    assert not any(n.startswith(("Security Update for", "Hotfix for")) for n in names)
    assert (
        uninstall.Program("WinSCP 4.0.7", "4.0.7", "Martin Prikryl", dt.date(2009, 1, 15)) in found
    )
    # Every one of the 209 "Security Update" keys has its own DisplayName, none is listed.
    releases = [k["ReleaseType"].data for k in keys if "ReleaseType" in k]
    assert releases.count("Security Update") == 209


def test_uninstall_keys_with_russian_names_and_no_publisher():
    found = uninstall.programs(uninstall_keys(glpi("10_russian-Uninstall.reg")))
    assert found == [  # in key order: "1C Предприятие 7.7.27" before "{50F91F80-...}"
        uninstall.Program("1C Предприятие 7.7", "77.27", None, None),
        uninstall.Program("КриптоПро CSP", "5.0.12000", "Компания КриптоПро", dt.date(2021, 7, 24)),
    ]


def test_uninstall_filter_rules():
    def key(**values: object) -> dict[str, RegValue]:
        return {
            k: RegValue(REG_DWORD if isinstance(v, int) else REG_SZ, v)  # type: ignore[arg-type]
            for k, v in values.items()
        }

    assert uninstall.is_program(key(DisplayName="7-Zip"))
    assert not uninstall.is_program(key(DisplayName="Part", SystemComponent=1))
    assert uninstall.is_program(key(DisplayName="Shown", SystemComponent=0))
    assert not uninstall.is_program(key(DisplayName="KB", ParentKeyName="OperatingSystem"))
    assert not uninstall.is_program(key(DisplayName="x", ReleaseType="%HOTFIX%"))
    assert not uninstall.is_program(key(DisplayName="x", ReleaseType="Update Rollup"))
    assert not uninstall.is_program(key(DisplayVersion="1.0"))
    # A DisplayName that is not a string (REG_BINARY) is no name.
    assert not uninstall.is_program({"DisplayName": RegValue(REG_BINARY, b"7-Zip")})
    assert uninstall.install_date("20211301") is None and uninstall.install_date("2021") is None


# --- Windows Update Agent ------------------------------------------------------------------


def cnquery() -> list[dict]:
    text = (FIXTURES / "windows-outputs" / "wua-pending-server2019.txt").read_text("utf-8")
    records: list[dict] = json.loads(text)
    return records


GERMAN_TITLES = {
    # Quoted from Yogibaer75/Check_MK-Things (see tests/fixtures/windows-update-agent/
    # SOURCES.md): real German titles of Windows Update.
    "4538461": "2024-04 Kumulatives Update für Windows 11 Version 23H2 für x64-basierte "
    "Systeme (KB5036980)",
    "4538156": "2021-09 Kumulatives Update für Windows 10 Version 21H1 für x64-basierte "
    "Systeme (KB5005565)",
}


def test_pending_updates_security_by_severity_and_category():
    found = wua.updates(cnquery())
    assert [u.kbs for u in found if u.security] == [("KB4537759",), ("KB4538461",)]
    assert [u.security for u in found] == [False, True, False, False, False, True]
    assert found[1].severity == "Critical" and found[5].severity is None
    assert found[5].categories == (wua.SECURITY_UPDATES,)
    assert all(u.reboot_required is False for u in found)


def test_classification_does_not_depend_on_the_title_language():
    english = wua.updates(cnquery())
    german = copy.deepcopy(cnquery())
    for record in german:
        record["Title"] = GERMAN_TITLES.get(record["KBArticleIDs"][0], record["Title"])
    assert [u.security for u in wua.updates(german)] == [u.security for u in english]
    # A title that says "Security Update" does not make one, nor does a title without it
    # unmake one: only severity and classification count.
    misleading = copy.deepcopy(cnquery())
    misleading[0]["Title"] = "2020-02 Security Update for Everything (KB4462930)"
    misleading[5]["Title"] = "Funktionsupdate"
    assert [u.security for u in wua.updates(misleading)] == [u.security for u in english]


def test_critical_updates_are_not_security_updates():
    [update] = wua.updates([{"Title": "x", "CategoryIDs": [wua.CRITICAL_UPDATES.upper()]}])
    assert update.security is False
    [update] = wua.updates([{"Title": "x", "CategoryIDs": [wua.SECURITY_UPDATES.upper()]}])
    assert update.security is True  # GUIDs compare without regard to case


def test_bad_records_are_refused():
    for record in (
        {"CategoryIDs": "0fa1201d-4330-4fa8-8ae9-b877473b6441"},
        {"MsrcSeverity": 3},
        {"MsrcSeverity": "Kritisch"},  # MSRC's ratings are never translated
        {"KBArticleIDs": [{"id": 1}]},
    ):
        with pytest.raises(wua.WuaDataError):
            wua.update(record)


WESNG_LISTS = [
    "10_1803_x64_proforworkstations_en-us_A_20190305_updates.txt",
    "10_1803_x64_proforworkstations_en-us_B_20190306_updates.txt",
    "10_1809_x64_education_en-us_20190306_updates.txt",
    "7_sp1_x64_enterprise_en-us_20190305_updates.txt",
    "srv_2012r2_u1_updates_optional.txt",
]


def wesng_records(name: str) -> list[dict]:
    """wesng's validation script prints, per pending update of IUpdateSearcher.Search, its
    KBArticleIDs and Title ("KB4100347: 2018-10 Update for ..."): those two properties."""
    data = corpus(WESNG / name)
    text = data.decode("utf-16") if data.startswith(b"\xff\xfe") else data.decode("utf-8")
    records = []
    for line in text.splitlines():
        kbs, sep, title = line.partition(": ")
        if sep and kbs.startswith("KB"):
            ids = [k.strip().removeprefix("KB") for k in kbs.split(",")]
            records.append({"KBArticleIDs": ids, "Title": title.strip()})
    return records


@pytest.mark.parametrize("name", WESNG_LISTS)
def test_real_update_lists_without_categories_are_of_unknown_security(name):
    records = wesng_records(name)
    assert records
    found = wua.updates(records)
    assert all(u.security is None for u in found)  # no severity, no categories printed
    assert all(u.kbs and u.title for u in found)


def test_windows_10_1803_pending_list():
    found = wua.updates(wesng_records(WESNG_LISTS[1]))
    assert [u.kbs[0] for u in found] == [
        "KB4462930", "KB890830", "KB4487038", "KB4100347", "KB4487017",
    ]  # fmt: skip
    assert found[4].title == (
        "2019-02 Cumulative Update for Windows 10 Version 1803 for x64-based Systems (KB4487017)"
    )


def history(name: str) -> list[dict]:
    records: list[dict] = json.loads(
        (FIXTURES / "windows-update-agent" / name).read_text(encoding="utf-8")
    )
    return records


def test_last_successful_update_from_german_history():
    assert wua.last_success(history("history-de-win10-21h1.json")) == dt.datetime(
        2021, 9, 17, 5, 9, 24, tzinfo=dt.UTC
    )
    assert wua.last_success(history("history-de-win11-23h2.json")) == dt.datetime(
        2024, 4, 26, 20, 7, 35, tzinfo=dt.UTC
    )


def test_failures_uninstalls_and_definition_updates_do_not_count():
    entries = history("history-de-win11-23h2.json")
    newest = dict(entries[0])
    for change, counts in (
        ({"ResultCode": 4}, False),  # failed
        ({"ResultCode": 3}, True),  # succeeded with errors
        ({"Operation": 2}, False),  # uninstallation
        ({"Operation": 1}, True),
        ({"CategoryIDs": [wua.DEFINITION_UPDATES]}, False),
        ({"Date": "26.04.2024 20:07"}, False),  # not ISO 8601: no date
    ):
        result = wua.last_success([{**newest, **change}, entries[1]])
        expected = dt.datetime(2024, 4, 26 if counts else 14, 20 if counts else 6, tzinfo=dt.UTC)
        assert result is not None and result.replace(minute=0, second=0) == expected, change
    assert wua.last_success([]) is None


# --- settings --------------------------------------------------------------------------------


def registry(name: str) -> RegfileRegistry:
    return RegfileRegistry(regfile.parse((FIXTURES / "windows-registry" / name).read_bytes()))


def test_firewall_profiles_of_real_windows_10_and_7():
    # grep EnableFirewall: the Windows 10's three profiles are 1, the Windows 7's all 0.
    for prefix, state in (("10-", True), ("7_firewall-", False)):
        states = []
        for local, _ in windows_settings.FIREWALL_PROFILES:
            reg = RegfileRegistry(glpi(f"{prefix}{local}.reg"))
            path = next(iter(reg.reg.keys.values())).path
            states.append(windows_settings.firewall_profile(reg.values(path), None))
        assert states == [state, state, state]
    off = {"EnableFirewall": RegValue(REG_DWORD, 0)}
    on = {"EnableFirewall": RegValue(REG_DWORD, 1)}
    assert windows_settings.firewall_profile(on, off) is False  # Group Policy wins
    assert windows_settings.firewall_profile({}, None) is None


def test_smb1_rdp_and_updates_as_documented():
    wsus = registry("documented-wsus-smb1-off-rdp-off.reg")
    services = "HKLM\\SYSTEM\\CurrentControlSet\\Services"
    assert windows_settings.smb1(wsus.values(f"{services}\\LanmanServer\\Parameters"),
                                 wsus.values(f"{services}\\mrxsmb10"), True) is False  # fmt: skip
    # SMB1 value absent: Windows' default depends on the optional feature: unknown.
    assert windows_settings.smb1({}, None, True) is None
    assert windows_settings.smb1({}, {"Start": RegValue(REG_DWORD, 2)}, True) is True
    assert windows_settings.smb1({"SMB1": RegValue(REG_DWORD, 0)}, None, False) is None
    policy = windows_settings.update_policy(
        wsus.values("HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate"),
        wsus.values("HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU"),
        None,
    )
    assert policy == windows_settings.Updates("wsus", True, "http://wsus.example.org:8530")
    au = {"NoAutoUpdate": RegValue(REG_DWORD, 1)}
    assert windows_settings.update_policy({}, au, None).policy == "manual"
    for option, automatic in ((2, False), (3, False), (4, True), (5, None), (7, False)):
        au = {"AUOptions": RegValue(REG_DWORD, option)}
        assert windows_settings.update_policy(None, au, None).automatic is automatic
    assert windows_settings.update_policy(None, None, None).policy == "automatic"
    mdm = {"AllowAutoUpdate": RegValue(REG_DWORD, 5)}
    assert windows_settings.update_policy(None, None, mdm) == windows_settings.Updates(
        "intune", False, None
    )
    # UseWUServer without a server is no WSUS.
    assert windows_settings.update_policy({}, {"UseWUServer": RegValue(REG_DWORD, 1)}, None) == (
        windows_settings.Updates("automatic", True, None)
    )
    deny = {"fDenyTSConnections": RegValue(REG_DWORD, 1)}
    allow = {"fDenyTSConnections": RegValue(REG_DWORD, 0)}
    assert windows_settings.rdp(allow, None, deny) == windows_settings.RdpState(False, None)
    assert windows_settings.rdp(allow, {}, None) == windows_settings.RdpState(True, None)
    assert windows_settings.rdp({}, {}, {}) is None
