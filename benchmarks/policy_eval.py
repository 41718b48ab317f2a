"""Policy evaluation throughput: all shipped packs over synthetic hosts.

    .venv/bin/python -m benchmarks.policy_eval [--hosts 20000] [--software 300] [--workers N]
                                               [--extrapolate 500000]

Generates varied reports (Windows/Linux/macOS, desktops and notebooks, ~300 software
entries each — one shared list, which no check reads —, some facts null), then measures (1)
derive + evaluate of every host in one process, as checks per second, and (2) the time to
re-evaluate everything after a pack change: reload the packs (parse, compile) and derive +
evaluate all hosts again, in one process and on all cores (collector.policy.batch, its
workers started as a running collector has them). Goal: <= 2 s for 20,000 hosts. With
``--extrapolate N`` the measured all-cores figures are scaled linearly to N hosts. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from collector.policy import PolicySet, derive, evaluate
from collector.policy.batch import EvaluationPool, HostItem

POLICIES = Path(__file__).resolve().parents[1] / "policies"
NOW = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)

OSES = [
    {
        "family": "windows",
        "name": "Windows 10 Pro",
        "version": "22H2",
        "build": "19045.5854",
        "edition": "Professional",
    },
    {
        "family": "windows",
        "name": "Windows 11 Enterprise",
        "version": "23H2",
        "build": "22631.4460",
        "edition": "Enterprise",
    },
    {"family": "linux", "name": "Debian GNU/Linux", "version": "12", "build": "12.10"},
    {"family": "linux", "name": "Ubuntu", "version": "22.04"},
    {"family": "darwin", "name": "macOS", "version": "14.5"},
]
CPUS = [
    "Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz",
    "Intel(R) Core(TM) i5-6500 CPU @ 3.20GHz",
    "AMD Ryzen 5 3600 6-Core Processor",
    "Intel(R) Pentium(R) Silver N5000 CPU",
]


def maybe(rng: random.Random, value: Any, p_null: float = 0.05) -> Any:
    return None if rng.random() < p_null else value


_SOFTWARE: dict[int, list[dict[str, str]]] = {}


def _software(count: int) -> list[dict[str, str]]:
    """One list per size, shared by every report (100,000 copies would not fit)."""
    if count not in _SOFTWARE:
        _SOFTWARE[count] = [
            {"name": f"package-{i}", "version": f"1.{i}.0", "publisher": "Debian"}
            for i in range(count)
        ]
    return _SOFTWARE[count]


def synthetic_report(rng: random.Random, software: int) -> dict[str, Any]:
    chassis = rng.choice(["desktop", "desktop", "laptop", "tablet", "vm"])
    osi = dict(rng.choice(OSES))
    laptop = chassis in ("laptop", "tablet")
    displays = [
        {
            "connector": "DP-1",
            "internal": False,
            "width_cm": 53.0,
            "height_cm": 30.0,
            "diagonal_in": rng.choice([19.0, 21.5, 24.0, 27.0]),
            "native_width_px": 1920,
            "native_height_px": 1080,
            "current_width_px": rng.choice([1920, 1920, 1600]),
            "current_height_px": 1080,
            "refresh_hz": maybe(rng, rng.choice([60.0, 59.94, 75.0])),
            "scale": maybe(rng, rng.choice([1.0, 1.25]), 0.2),
            "vendor_pnp": None,
            "model": None,
            "serial": None,
            "year": 2020,
        }
    ]
    return {
        "schema_version": 1,
        "report_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "collected_at": NOW.isoformat(),
        "agent": {"id": None, "version": "0.1.0"},
        "host": {
            "machine_id": f"{rng.getrandbits(64):016x}",
            "hostname": "pc",
            "chassis": chassis,
            "bios_date": f"{rng.randint(2014, 2024)}-03-01",
            "site": rng.choice(["rathaus", "gs-nord", "kita-sonne"]),
            "role": rng.choice(["workplace", "classroom", "pupil-device", None]),
            "tags": [],
        },
        "os": osi,
        "hardware": {
            "cpu_model": rng.choice(CPUS),
            "memory_bytes": rng.choice([4, 8, 16]) * 2**30,
            "disks": [{"name": "d0", "size_bytes": 256 * 10**9, "rotational": False}],
            "volumes": [
                {"mount": "/", "system": True, "size_bytes": 2 * 10**11, "free_bytes": 10**11}
            ],
            "battery": {
                "health": rng.random(),
                "design_capacity_wh": 50.0,
                "full_capacity_wh": 40.0,
                "cycle_count": 100,
            }
            if laptop
            else None,
            "tpm": {"present": True, "version": rng.choice(["2.0", "1.2"])},
            "uefi": maybe(rng, True),
        },
        "displays": displays,
        "inputs": {"external_keyboard": maybe(rng, True), "external_pointing": True},
        "network": {
            "interfaces": [],
            "default_gateway": None,
            "dns_servers": [],
            "listening": [
                {
                    "proto": "tcp",
                    "address": "0.0.0.0",
                    "port": rng.choice([22, 23, 445, 631]),
                    "process": "x",
                }
            ],
        },
        "wlan": {
            "interfaces": [
                {
                    "name": "wlan0",
                    "connected": True,
                    "ssid": "S",
                    "security": rng.choice(["wpa2-psk", "open", "wpa3-sae"]),
                    "cipher": "CCMP",
                }
            ]
            if laptop
            else [],
            "profiles": [{"ssid": "a", "security": "open", "autoconnect": rng.random() < 0.1}],
            "visible": [],
        },
        "patches": {
            "manager": "apt",
            "pending": [{"name": "openssl", "security": True}],
            "pending_count": 1,
            "pending_security_count": 1,
            "auto_updates": maybe(rng, rng.random() < 0.8),
            "reboot_required": False,
        },
        "security": {
            "firewall": maybe(rng, rng.random() < 0.9),
            "disk_encryption": [{"mount": "/", "encrypted": rng.random() < 0.7}],
            "secure_boot": maybe(rng, True),
            "screen_lock": {
                "enabled": True,
                "timeout_s": rng.choice([300, 900, 1800]),
                "password": True,
            },
            "antivirus": [
                {"name": "Defender", "realtime": True, "signatures_updated": "2025-06-01T00:00:00Z"}
            ],
            "ssh": {
                "permit_root_login": rng.choice(["no", "yes", None]),
                "permit_empty_passwords": False,
            },
            "smb1": maybe(rng, False),
            "mac_enforcing": maybe(rng, True),
        },
        "software": _software(software),
        "collection": {"errors": []},
    }


def evaluate_all(policies: PolicySet, reports: list[dict[str, Any]]) -> int:
    first_seen = {"openssl": NOW - dt.timedelta(days=12)}
    n = 0
    for report in reports:
        facts = derive(report, policies.reference, NOW, first_seen_pending=first_seen)
        n += len(evaluate(policies, report, facts))
    return n


def one_check_changed(
    before: PolicySet, items: list[HostItem], pool: EvaluationPool
) -> tuple[float, str]:
    """A copy of the packs with one check's severity edited: reload, find the changed checks
    by digest (collector.findings.store.reevaluate_if_changed does the same) and evaluate
    those on every host."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "policies"
        shutil.copytree(POLICIES, directory)
        pack = directory / "security.yaml"
        pack.write_text(pack.read_text().replace(
            "    severity: high\n    condition: security.firewall",
            "    severity: critical\n    condition: security.firewall"))  # fmt: skip
        known = {c.id: c.digest for c in before.checks}
        t0 = time.perf_counter()
        after = PolicySet.load(directory)
        changed = {c.id for c in after.checks if known.get(c.id) != c.digest}
        pool.evaluate(after.subset(changed), items, NOW)
        return time.perf_counter() - t0, ", ".join(sorted(changed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--software", type=int, default=300)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--extrapolate", type=int, default=0, metavar="N")
    args = parser.parse_args()

    rng = random.Random(42)
    t0 = time.perf_counter()
    reports = [synthetic_report(rng, args.software) for _ in range(args.hosts)]
    # The generated reports are ~6 million long-lived objects that the collector would
    # never hold at once (it reads hosts from the database); keep the cyclic GC from
    # re-scanning them on every collection.
    gc.freeze()
    print(
        f"generated {args.hosts} reports ({args.software} software entries each) "
        f"in {time.perf_counter() - t0:.1f} s"
    )

    t0 = time.perf_counter()
    policies = PolicySet.load(POLICIES)
    load_s = time.perf_counter() - t0
    print(
        f"loaded {len(policies.checks)} checks in {load_s * 1000:.0f} ms; "
        f"sections handed to CEL: {', '.join(sorted(policies.report_sections))}"
    )

    t0 = time.perf_counter()
    first_seen = {"openssl": NOW - dt.timedelta(days=12)}
    facts = [derive(r, policies.reference, NOW, first_seen_pending=first_seen) for r in reports]
    derive_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = sum(len(evaluate(policies, r, f)) for r, f in zip(reports, facts, strict=True))
    cel_s = time.perf_counter() - t0
    print(
        f"split: derive {derive_s:.2f} s, evaluate (CEL) {cel_s:.2f} s = {n / cel_s:,.0f} checks/s"
    )

    t0 = time.perf_counter()
    results = evaluate_all(policies, reports)
    eval_s = time.perf_counter() - t0
    print(
        f"evaluate: {results} results in {eval_s:.2f} s = {results / eval_s:,.0f} checks/s "
        f"({args.hosts / eval_s:,.0f} hosts/s)"
    )

    # A pack change: reload (parse + compile) and re-evaluate every host.
    t0 = time.perf_counter()
    policies = PolicySet.load(POLICIES)
    evaluate_all(policies, reports)
    single_s = time.perf_counter() - t0
    print(
        f"re-evaluate after a pack change, one process (reload + derive + evaluate "
        f"{args.hosts} hosts): {single_s:.2f} s"
    )

    pool = EvaluationPool(args.workers)
    first_seen = {"openssl": NOW - dt.timedelta(days=12)}
    items = [HostItem(r, {"first_seen_pending": first_seen}) for r in reports]
    try:
        pool.warm_up(policies)
        t0 = time.perf_counter()
        policies = PolicySet.load(POLICIES)
        evaluated = pool.evaluate(policies, items, NOW)
        cores_s = time.perf_counter() - t0
        one_s, changed = one_check_changed(policies, items, pool)
    finally:
        pool.close()
    n = sum(len(r) for r in evaluated)
    print(
        f"re-evaluate after a pack change, {pool.workers} worker processes: {cores_s:.2f} s "
        f"({n:,} results, {args.hosts / cores_s:,.0f} hosts/s; goal: <= 2 s for 20,000 hosts)"
    )
    print(
        f"re-evaluate after a pack change that edits one check ({changed}; the collector "
        f"evaluates only the checks whose digest changed), {pool.workers} worker processes: "
        f"{one_s:.2f} s (goal: <= 2 s for 20,000 hosts)"
    )
    if args.extrapolate:
        print(
            f"extrapolated to {args.extrapolate:,} hosts (linear, from {args.hosts:,} measured): "
            f"{cores_s * args.extrapolate / args.hosts:.1f} s every check, "
            f"{one_s * args.extrapolate / args.hosts:.1f} s one changed check, on "
            f"{pool.workers} worker processes"
        )


if __name__ == "__main__":
    main()
