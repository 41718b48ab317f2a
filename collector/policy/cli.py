"""CLI helpers: `policy check [DIR]`, `policy docs [DIR]` and `policy eval --report FILE`.

The collector's CLI calls :func:`register` with its subparsers; ``python -m
collector.policy`` runs the same commands standalone. Each command is a function
``(argparse.Namespace) -> int`` stored as ``func``, the collector CLI's convention.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.schema import Report, convert, to_data  # the wire contract: keeps reports honest
from collector.policy import _yaml
from collector.policy.derive import derive
from collector.policy.engine import evaluate
from collector.policy.loader import PolicyLoadError, PolicySet, lint
from collector.policy.model import Result, Waiver
from collector.settings import Settings


def default_policies_dir() -> Path:
    """The settings' policies directory (INVENTAR_POLICIES, else the shipped packs)."""
    return Settings().policies_dir


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `policy` command (with `check` and `eval`) to ``subparsers``."""
    policy: argparse.ArgumentParser = subparsers.add_parser(
        "policy", help="policy packs: lint, evaluate a report"
    )
    sub = policy.add_subparsers(dest="policy_command", required=True)

    p = sub.add_parser("check", help="load and lint policy packs (exit 1 on any problem)")
    p.add_argument("directory", nargs="?", type=Path, metavar="DIR", help="packs directory")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("docs", help="print the checks' documentation (docs/checks.md)")
    p.add_argument("directory", nargs="?", type=Path, metavar="DIR", help="packs directory")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("eval", help="evaluate the policies on one saved report")
    p.add_argument(
        "--report",
        required=True,
        type=Path,
        metavar="FILE",
        help="report JSON as written by `inventar-agent collect --output`",
    )
    p.add_argument("--policies", type=Path, metavar="DIR", help="packs directory")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--lang", choices=["en", "de"], default="en")
    p.add_argument(
        "--now",
        type=_timestamp,
        metavar="TIME",
        help="evaluate as of this RFC 3339 time (default: now)",
    )
    p.add_argument(
        "--waivers",
        type=Path,
        metavar="FILE",
        help="YAML/JSON list of waivers {check, host|site, reason, until}",
    )
    p.set_defaults(func=cmd_eval)
    return policy


def cmd_check(args: argparse.Namespace) -> int:
    directory: Path = args.directory or default_policies_dir()
    problems = lint(directory)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    policies = PolicySet.load(directory)
    print(
        f"{directory}: {len(policies.checks)} checks in {len(policies.files)} packs, "
        f"{len(policies.reference.references)} references; OK"
    )
    support = policies.reference.os_support
    print(f"OS support data {support.file}: updated {support.updated.isoformat()}")
    today = dt.datetime.now(dt.UTC).date()
    if months_before(today, STALE_MONTHS) > support.updated:
        # A warning, not a problem: the packs are fine, the data may miss new releases.
        print(
            f"warning: {support.file} was last updated {support.updated.isoformat()}, more "
            f"than {STALE_MONTHS} months ago: releases published since are reported unknown "
            "and end dates may have moved; check it against its sources and set `updated`",
            file=sys.stderr,
        )
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from collector.policy.docs import markdown  # noqa: PLC0415

    try:
        policies = PolicySet.load(args.directory or default_policies_dir())
    except PolicyLoadError as exc:
        print(exc, file=sys.stderr)
        return 1
    sys.stdout.write(markdown(policies))
    return 0


# `policy check` warns when the OS support data is older than this.
STALE_MONTHS = 6


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (the month's last day where it is
    shorter: 31 August - 6 months = 28/29 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        policies = PolicySet.load(args.policies or default_policies_dir())
    except PolicyLoadError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        raw = json.loads(args.report.read_text(encoding="utf-8"))
        report = to_data(convert(raw, Report))
    except (OSError, ValueError) as exc:
        print(f"{args.report}: not a valid report: {exc}", file=sys.stderr)
        return 2
    waivers: list[Waiver] = []
    if args.waivers:
        try:
            data = _yaml.load(args.waivers.read_text(encoding="utf-8")) or []
            waivers = [Waiver.from_dict(w) for w in data]
        except (OSError, ValueError, KeyError, TypeError, _yaml.YAMLError) as exc:
            print(f"{args.waivers}: bad waivers: {exc}", file=sys.stderr)
            return 2
    now = args.now or dt.datetime.now(dt.UTC)
    # One report, no history: pending updates count as first seen now, no purchase date.
    facts = derive(report, policies.reference, now)
    results = evaluate(policies, report, facts, waivers, lang=args.lang)
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        print(format_table(results))
    return 0


def format_table(results: Sequence[Result]) -> str:
    rows = [("STATUS", "SEVERITY", "CHECK", "MESSAGE")]
    rows += [(r.status, r.severity, r.check, r.message) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
        for row in rows
    ]
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines.append("")
    lines.append(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return "\n".join(lines)


def _timestamp(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.policy")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["policy", *(sys.argv[1:] if argv is None else argv)])
    rc: int = args.func(args)
    return rc
