"""inventar-agent: collect | schema | enroll | run | status | discover."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agent import __version__, memory

if TYPE_CHECKING:
    from agent.context import Machine

log = logging.getLogger("inventar.agent")

# The report schema and the probes are imported by the commands that use them, after main()
# has set up the process.


def _section_list(value: str) -> frozenset[str]:
    from agent.report import sections_of  # noqa: PLC0415  (see the note on imports above)

    return sections_of(value.split(","))


def _add_collect(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("collect", help="collect an inventory and print it as JSON")
    p.add_argument("--pretty", action="store_true", help="indent the JSON")
    p.add_argument("--output", type=Path, help="write the report to FILE instead of stdout")
    p.add_argument("--only", type=_section_list, default=frozenset(), help="sections, a,b")
    p.add_argument("--skip", type=_section_list, default=frozenset(), help="sections, a,b")
    p.add_argument("--sysfs", default="/sys", help="where sysfs is mounted (default /sys)")
    p.add_argument("--procfs", default="/proc", help="where procfs is mounted (default /proc)")
    p.add_argument("--rootfs", default="/", help="root of the other files (default /)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--record", type=Path, metavar="DIR", help="also write a support bundle")
    group.add_argument("--replay", type=Path, metavar="DIR", help="report from a support bundle")
    p.add_argument("--source", default="", help="with --record: where the bundle comes from")
    p.add_argument("--site", help="site name to put into host.site")
    p.add_argument(
        "--role",
        choices=["workplace", "classroom", "pupil-device", "kiosk", "server", "other"],
        help="role to put into host.role",
    )
    p.add_argument(
        "--probe-timeout", type=float, default=60.0, help="seconds per probe (default 60)"
    )
    p.set_defaults(func=cmd_collect)


def cmd_collect(args: argparse.Namespace) -> int:
    import msgspec  # noqa: PLC0415

    from agent.report import HostConfig, Selection, collect  # noqa: PLC0415
    from agent.schema import encode  # noqa: PLC0415

    try:
        selection = Selection(only=args.only, skip=args.skip)
    except ValueError as exc:
        print(f"inventar-agent: {exc}", file=sys.stderr)
        return 2
    finish: Callable[[], None] | None = None
    if args.replay is not None or args.record is not None:
        chosen = _bundle_machine(args)
        if chosen is None:
            return 2
        machine, finish = chosen
    else:
        from agent.context import live_machine  # noqa: PLC0415

        machine = live_machine(args.sysfs, args.procfs, args.rootfs)
    report = collect(
        machine,
        selection,
        HostConfig(site=args.site, role=args.role),
        probe_timeout_s=args.probe_timeout,
    )
    if finish is not None:
        finish()
    data = encode(report)
    text = (msgspec.json.format(data, indent=2) if args.pretty else data).decode("utf-8")
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0


def _bundle_machine(args: argparse.Namespace) -> tuple[Machine, Callable[[], None] | None] | None:
    """The machine of ``--replay`` (a support bundle), or the live one recorded by
    ``--record`` with the function that finishes the bundle; None after a message.
    Support bundles (with the Windows registry file parser) are imported only when asked
    for: a plain `collect` is what footprints measure."""
    from agent.bundle import BundleError, Recorder, open_bundle  # noqa: PLC0415
    from agent.context import live_machine  # noqa: PLC0415

    if args.replay is not None:
        try:
            return open_bundle(args.replay), None
        except BundleError as exc:
            print(f"inventar-agent: {exc}", file=sys.stderr)
            return None
    recorder = Recorder(
        live_machine(args.sysfs, args.procfs, args.rootfs), args.record, source=args.source
    )
    return recorder.machine(), recorder.finish


def cmd_schema(args: argparse.Namespace) -> int:
    from agent.schema import json_schema_text  # noqa: PLC0415

    sys.stdout.write(json_schema_text() + "\n")
    return 0


# Commands that need nothing of the service stack (timetable, transport, outbox): a one-shot
# `collect` is what a footprint comparison measures, and the transport's imports (urllib,
# http.client, email, ssl) would cost it CPU and several MiB for nothing.
_LIGHT_COMMANDS = frozenset({"collect", "schema"})


def build_parser(service_commands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inventar-agent",
        description="Inventar agent: reports this machine's inventory and security posture.",
    )
    parser.add_argument("--version", action="version", version=f"inventar-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_collect(sub)
    p = sub.add_parser("schema", help="print the report's JSON Schema")
    p.set_defaults(func=cmd_schema)
    if service_commands:
        from agent import cli_service  # noqa: PLC0415  (see _LIGHT_COMMANDS)

        cli_service.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    memory.one_arena()  # before the probes' threads start
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(service_commands=command not in _LIGHT_COMMANDS)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    rc: int = args.func(args)
    return rc
