"""Derived facts: OS support end by family/name/version/build/edition, ages, CPU, text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from collector.policy import PolicySet, derive
from collector.policy.derive import cpu_supported
from tests.policy.helpers import NOW, make


def _os(policies: PolicySet, os_info: dict[str, Any]) -> dict[str, Any]:
    return derive(make({"os": os_info}), policies.reference, NOW)


@pytest.mark.parametrize(
    ("os_info", "end"),
    [
        (
            {
                "family": "windows",
                "name": "Windows 10 Pro",
                "build": "19045.5011",
                "edition": "Professional",
            },
            "2025-10-14",
        ),
        (
            {"family": "windows", "name": "Windows 10 Home", "build": "19045", "edition": "Core"},
            "2025-10-14",
        ),
        (
            {
                "family": "windows",
                "name": "Windows 10 Enterprise LTSC 2021",
                "build": "19044",
                "edition": "EnterpriseS",
            },
            "2027-01-12",
        ),
        (
            {
                "family": "windows",
                "name": "Windows 10 IoT Enterprise LTSC",
                "build": "19044.1",
                "edition": "IoTEnterpriseS",
            },
            "2032-01-13",
        ),
        (
            {
                "family": "windows",
                "name": "Windows 10 Education",
                "build": "19044",
                "edition": "Education",
            },
            "2024-06-11",
        ),
        (
            {
                "family": "windows",
                "name": "Windows 11 Pro",
                "build": "22631",
                "edition": "Professional",
            },
            "2025-11-11",
        ),
        (
            {
                "family": "windows",
                "name": "Windows 11 Enterprise",
                "build": "22631",
                "edition": "Enterprise",
            },
            "2026-11-10",
        ),
        (
            {
                "family": "windows",
                "name": "Windows 11 Education",
                "version": "10.0.26100",
                "edition": "Education",
            },
            "2027-10-12",
        ),
        (
            {
                "family": "windows",
                "name": "Windows 11 Pro",
                "build": "26100",
                "edition": "ProfessionalN",
            },
            "2026-10-13",
        ),
        ({"family": "linux", "name": "Debian GNU/Linux", "version": "11"}, "2026-08-31"),
        ({"family": "linux", "name": "Ubuntu", "version": "24.04"}, "2029-04-30"),
        ({"family": "linux", "name": "Rocky Linux", "version": "9.5"}, "2032-05-31"),
        ({"family": "linux", "name": "Red Hat Enterprise Linux", "version": "8.10"}, "2029-05-31"),
        ({"family": "darwin", "name": "macOS", "version": "13.7.1"}, "2025-09-15"),
    ],
)
def test_os_support_end(policies: PolicySet, os_info: dict[str, Any], end: str) -> None:
    facts = _os(policies, os_info)
    assert facts["os_support_end"] == dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC)
    assert facts["os_support_days_left"] == (dt.date.fromisoformat(end) - NOW.date()).days
    assert facts["os_support_source"]


@pytest.mark.parametrize(
    "os_info",
    [
        # Not a release (23.10 was unlisted before the data was completed, issue 21).
        {"family": "linux", "name": "Ubuntu", "version": "23.05"},
        {"family": "windows", "name": "Windows 10", "build": "19045"},  # edition unknown
        {"family": "windows", "name": "Windows 10", "edition": "Pro"},  # build unknown
        {"family": "linux", "name": None, "version": "12"},
    ],
)
def test_os_support_unknown(policies: PolicySet, os_info: dict[str, Any]) -> None:
    facts = _os(policies, os_info)
    assert facts["os_support_end"] is None
    assert facts["os_support_days_left"] is None


def test_edition_from_name_when_edition_missing(policies: PolicySet) -> None:
    facts = _os(
        policies, {"family": "windows", "name": "Microsoft Windows 10 Pro", "build": "19045"}
    )
    assert facts["os_support_days_left"] == (dt.date(2025, 10, 14) - NOW.date()).days


def test_pending_days(policies: PolicySet) -> None:
    pending = {
        "patches.pending": [
            {"name": "a", "security": True},
            {"name": "b", "security": True},
            {"name": "c", "security": False},
        ]
    }
    report = make(pending)
    ref = policies.reference
    seen = {
        "a": NOW - dt.timedelta(days=3),
        "b": NOW - dt.timedelta(days=40, hours=1),
        "c": NOW - dt.timedelta(days=400),
    }
    assert derive(report, ref, NOW, first_seen_pending=seen)["security_pending_max_days"] == 40
    assert derive(report, ref, NOW)["security_pending_max_days"] == 0
    assert derive(make({}), ref, NOW, first_seen_pending=seen)["security_pending_max_days"] == 0
    assert derive(make({"patches": None}), ref, NOW)["security_pending_max_days"] is None


def test_device_age(policies: PolicySet) -> None:
    ref = policies.reference
    facts = derive(make({"host.bios_date": "2020-06-02"}), ref, NOW)
    assert facts["device_age_years"] == pytest.approx(5.0, abs=0.01)
    assert facts["device_age_source"] == "bios"
    assert facts["device_category"] == "desktop"
    assert facts["replacement_years"] == 5
    facts = derive(make({}), ref, NOW, purchase_date=dt.date(2024, 6, 2))
    assert facts["device_age_source"] == "purchase"
    assert facts["device_age_years"] == pytest.approx(1.0, abs=0.01)
    facts = derive(make({"host.bios_date": None, "host.chassis": "server"}), ref, NOW)
    assert facts["device_age_years"] is None and facts["device_category"] is None


@pytest.mark.parametrize(
    ("cpu", "supported"),
    [
        ("Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz", True),
        ("11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz", True),
        ("12th Gen Intel(R) Core(TM) i7-12700", True),
        ("Intel(R) Core(TM) Ultra 5 125U", True),
        ("AMD Ryzen 5 3600 6-Core Processor", True),
        ("AMD Ryzen 7 PRO 4750U with Radeon Graphics", True),
        ("Intel(R) Core(TM) i7-7700 CPU @ 3.60GHz", False),
        ("Intel(R) Core(TM)2 Duo CPU E8400 @ 3.00GHz", False),
        ("AMD Ryzen 7 1700 Eight-Core Processor", False),
        ("Intel(R) Pentium(R) Silver N5000 CPU @ 1.10GHz", None),
        ("AMD Ryzen 5 2600 Six-Core Processor", None),
        (None, None),
    ],
)
def test_win11_cpu(policies: PolicySet, cpu: str | None, supported: bool | None) -> None:
    assert cpu_supported(cpu, policies.reference) is supported


def test_text_size_formula(policies: PolicySet) -> None:
    # 24" Full HD, 53 cm wide, 100 %: pitch 0.276 mm, 10.3 px -> 2.84 mm at 500 mm
    facts = derive(make({"displays.0.scale": 1.0}), policies.reference, NOW)
    assert facts["text_char_arcmin"] == [pytest.approx(19.5, abs=0.1)]
    facts = derive(make({"displays.0.scale": None}), policies.reference, NOW)
    assert facts["text_char_arcmin"] == [None]
