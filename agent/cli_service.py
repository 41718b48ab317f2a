"""inventar-agent's service commands: enroll (once, with a site's secret) and run."""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

from agent import state as agent_state
from agent import transport
from agent.context import Machine
from agent.report import HostConfig, Selection, collect

log = logging.getLogger("inventar.agent")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the service subcommands to the agent's parser."""
    p = sub.add_parser("enroll", help="enroll this machine at a collector")
    p.add_argument("--server", required=True, help="collector URL, https://host:8740")
    secret = p.add_mutually_exclusive_group(required=True)
    secret.add_argument("--secret", help="the site's enrollment secret")
    secret.add_argument("--secret-file", type=Path, help="read the secret from FILE")
    p.add_argument("--ca-file", help="CA bundle (PEM) to verify the collector's certificate")
    _state_dir_arg(p)
    p.add_argument("--allow-http", action="store_true", help="allow plain http (testing only)")
    p.add_argument("--timeout", type=float, default=transport.DEFAULT_TIMEOUT_S)
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("run", help="collect and send reports to the collector")
    p.add_argument("--once", action="store_true", help="send one report and exit")
    p.add_argument("--server", help="collector URL (default: the one enrolled with)")
    p.add_argument("--ca-file", help="CA bundle (default: the one enrolled with)")
    _state_dir_arg(p)
    p.add_argument("--allow-http", action="store_true", help="allow plain http (testing only)")
    p.add_argument("--timeout", type=float, default=transport.DEFAULT_TIMEOUT_S)
    p.add_argument(
        "--interval", type=float, default=3600.0, help="seconds between reports (default 3600)"
    )
    p.add_argument(
        "--probe-timeout", type=float, default=60.0, help="seconds per probe (default 60)"
    )
    p.set_defaults(func=cmd_run)


def _state_dir_arg(p: argparse.ArgumentParser) -> None:
    default = agent_state.default_state_dir()
    p.add_argument(
        "--state-dir", type=Path, default=default, help=f"state directory (default {default})"
    )


def _live_machine() -> Machine:
    from agent.cli import live_machine  # noqa: PLC0415  (agent.cli imports this module)

    return live_machine()


def _fail(message: str, rc: int = 1) -> int:
    print(f"inventar-agent: {message}", file=sys.stderr)
    return rc


def cmd_enroll(args: argparse.Namespace) -> int:
    try:
        server = transport.check_server_url(args.server, args.allow_http)
    except transport.TransportError as exc:
        return _fail(exc.message, 2)
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            return _fail(f"cannot read the secret: {exc}", 2)
    else:
        secret = args.secret
    report = collect(_live_machine(), Selection(only=frozenset({"host"})), probe_timeout_s=30)
    host = report.host
    if host is None or not host.machine_id:
        errors = "; ".join(e.message for e in report.collection.errors) or "unknown"
        return _fail(f"cannot determine this machine's id: {errors}")
    try:
        answer = transport.enroll(
            server,
            secret,
            host.machine_id,
            host.hostname,
            ca_file=args.ca_file,
            timeout=args.timeout,
        )
    except transport.TransportError as exc:
        return _fail(f"enrollment failed: {exc.message}")
    site = answer.get("site")
    path = agent_state.save(
        args.state_dir,
        agent_state.AgentState(
            server=server,
            agent_id=answer["agent_id"],
            token=answer["token"],
            machine_id=host.machine_id,
            site=site if isinstance(site, str) else None,
            ca_file=args.ca_file,
        ),
    )
    print(f"enrolled as agent {answer['agent_id']}; state in {path}")
    return 0


def _send_once(args: argparse.Namespace, st: agent_state.AgentState, server: str) -> int:
    report = collect(
        _live_machine(),
        host_config=HostConfig(site=st.site, agent_id=st.agent_id),
        probe_timeout_s=args.probe_timeout,
    )
    if report.host is not None and report.host.machine_id != st.machine_id:
        return _fail(
            f"this machine's id changed since enrollment ({st.machine_id} -> "
            f"{report.host.machine_id}); enroll again"
        )
    body = report.model_dump_json().encode("utf-8")
    try:
        answer = transport.send_report(
            server, st.token, body, ca_file=args.ca_file or st.ca_file, timeout=args.timeout
        )
    except transport.TransportError as exc:
        return _fail(f"sending the report failed: {exc.message}")
    print(f"report {report.report_id}: {answer.get('status', 'sent')}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        st = agent_state.load(args.state_dir)
        server = transport.check_server_url(args.server or st.server, args.allow_http)
    except (agent_state.StateError, transport.TransportError) as exc:
        return _fail(str(exc), 2)
    if args.once:
        return _send_once(args, st, server)
    while True:  # the apscheduler-based scheduler with splay replaces this loop later
        _send_once(args, st, server)
        time.sleep(args.interval * random.uniform(0.9, 1.1))
