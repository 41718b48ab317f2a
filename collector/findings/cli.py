"""`inventar-collector waiver add | list | remove`: exceptions for failing checks.

The collector's CLI calls :func:`register` with its subparsers. Adding or removing a waiver
re-evaluates the hosts it covers at once (a running collector sees the new findings at its
next read; expiry is picked up by the collector's periodic job).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from collector.cli_database import add_database_option, database_from
from collector.findings import devices, store
from collector.findings.waivers import add_waiver, covered_devices, list_waivers, remove_waiver
from collector.policy import PolicyLoadError, PolicySet
from collector.policy.cli import default_policies_dir
from collector.services import ServiceError


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `waiver` command (add, list, remove) to ``subparsers``."""
    waiver: argparse.ArgumentParser = subparsers.add_parser(
        "waiver", help="accepted exceptions for failing checks"
    )
    sub = waiver.add_subparsers(dest="waiver_command", required=True)

    p = sub.add_parser("add", help="waive a check on one host or a whole site until a date")
    add_database_option(p)
    p.add_argument("--check", required=True, metavar="ID", help="check id, e.g. sec.firewall")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--host", metavar="H", help="hostname, FQDN or machine id")
    target.add_argument("--site", metavar="S", help="site name")
    target.add_argument(
        "--device", metavar="MAC", help="a discovered device (for the device checks, dev.*)"
    )
    p.add_argument("--reason", required=True, help="why the failure is accepted")
    p.add_argument("--until", required=True, metavar="DATE", help="last day (YYYY-MM-DD)")
    p.add_argument("--policies", type=Path, metavar="DIR", help="policy packs directory")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", help="list waivers")
    add_database_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("remove", help="remove a waiver")
    add_database_option(p)
    p.add_argument("waiver_id", type=int, metavar="ID")
    p.add_argument("--policies", type=Path, metavar="DIR", help="policy packs directory")
    p.set_defaults(func=cmd_remove)
    return waiver


def _policies(args: argparse.Namespace) -> PolicySet:
    directory = args.policies or default_policies_dir()
    try:
        return PolicySet.load(directory)
    except PolicyLoadError as exc:
        raise ServiceError(f"policy packs in {directory} do not load: {exc}") from None


def cmd_add(args: argparse.Namespace) -> int:
    policies = _policies(args)
    db = database_from(args)
    with db.session() as session:
        waiver, hosts = add_waiver(
            session,
            check=args.check,
            reason=args.reason,
            until=args.until,
            policies=policies,
            host=args.host,
            site=args.site,
            device=args.device,
        )
        covered = covered_devices(session, waiver)
    store.evaluate_hosts(db, hosts, policies)
    devices.evaluate_devices(db, covered, policies)
    target = (f"host {args.host}" if args.host else
              f"device {args.device}" if args.device else f"site {args.site}")  # fmt: skip
    print(f"waiver {waiver.id}: {waiver.check_id} on {target} until {waiver.until.isoformat()} "
          f"({len(hosts)} host(s), {len(covered)} device(s) re-evaluated)")  # fmt: skip
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        waivers = list_waivers(session)
    if args.json:
        print(json.dumps([{**vars(w), "until": w.until.isoformat()} for w in waivers], indent=2))
        return 0
    for w in waivers:
        target = (f"host {w.host}" if w.host_id is not None else
                  f"device {w.device}" if w.device else f"site {w.site}")  # fmt: skip
        state = "expired" if w.expired else "active"
        print(f"{w.id}\t{w.check}\t{target}\t{w.until.isoformat()}\t{state}\t{w.reason}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    db = database_from(args)
    with db.session() as session:
        hosts = remove_waiver(session, args.waiver_id)
    try:
        policies = _policies(args)
    except ServiceError as exc:
        print(f"inventar-collector: warning: {exc.message}; findings not re-evaluated",
              file=sys.stderr)  # fmt: skip
    else:
        store.evaluate_hosts(db, hosts, policies)
        # Devices whose findings name a waiver that is gone.
        today = dt.datetime.now(dt.UTC).date()
        devices.evaluate_devices(db, devices.expired_waiver_device_ids(db, today), policies)
    print(f"waiver {args.waiver_id} removed ({len(hosts)} host(s) re-evaluated)")
    return 0
