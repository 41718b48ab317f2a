"""inventar-agent's service commands: enroll (once, with a site's secret), run (the service,
or one cycle with --once), status, and discover (a network discovery, printed and, with
--send, sent to the collector)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from agent import config as agent_config
from agent import delta, discover, forked, scheduler, spool, transport
from agent import state as agent_state
from agent.context import Machine, live_machine
from agent.report import Selection, collect

log = logging.getLogger("inventar.agent")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the service subcommands to the agent's parser."""
    p = sub.add_parser("enroll", help="enroll this machine at a collector")
    p.add_argument("--server", help="collector URL, https://host:8740 (default: config)")
    secret = p.add_mutually_exclusive_group(required=True)
    secret.add_argument("--secret", help="the site's enrollment secret")
    secret.add_argument("--secret-file", type=Path, help="read the secret from FILE")
    p.add_argument("--ca-file", help="CA bundle (PEM) to verify the collector's certificate")
    _config_arg(p)
    _state_dir_arg(p)
    p.add_argument("--allow-http", action="store_true", help="allow plain http (testing only)")
    p.add_argument("--timeout", type=float, default=None, help="seconds (default: config, 30)")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("run", help="run as a service: collect and send reports on a schedule")
    p.add_argument("--once", action="store_true", help="one full cycle (send the queue), exit")
    p.add_argument("--server", help="collector URL (default: config, else the enrolled one)")
    p.add_argument("--ca-file", help="CA bundle (default: config, else the enrolled one)")
    _config_arg(p)
    _state_dir_arg(p)
    p.add_argument("--allow-http", action="store_true", help="allow plain http (testing only)")
    p.add_argument("--timeout", type=float, default=None, help="seconds (default: config, 30)")
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        help="full inventory interval in seconds (default: config full_interval, 6 h)",
    )
    p.add_argument("--probe-timeout", type=float, default=None, help="seconds per probe")
    p.add_argument(
        "--replay", type=Path, metavar="DIR", help="report from a support bundle (tests, support)"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="enrollment, last success, last error, queue length")
    _config_arg(p)
    _state_dir_arg(p)
    p.set_defaults(func=cmd_status)
    _add_discover(sub)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        help=f"configuration file (default ${agent_config.CONFIG_ENV}, else "
        f"{agent_config.DEFAULT_CONFIG} if it exists)",
    )


def _state_dir_arg(p: argparse.ArgumentParser) -> None:
    default = agent_state.default_state_dir()
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"state directory (default: config state_dir, else {default})",
    )


def _setup(args: argparse.Namespace) -> tuple[agent_config.AgentConfig, Path]:
    """The configuration (raises ConfigError) and the state directory."""
    config, _path = agent_config.load_config(args.config)
    overrides: dict[str, object] = {}
    for name in ("timeout", "probe_timeout"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "interval", None) is not None:
        overrides["full_interval"] = args.interval
    if overrides:
        config = agent_config.with_overrides(config, overrides)  # ConfigError "invalid option"
    state_dir = args.state_dir or config.state_dir or agent_state.default_state_dir()
    return config, state_dir


def _fail(message: str, rc: int = 1) -> int:
    print(f"inventar-agent: {message}", file=sys.stderr)
    return rc


def cmd_enroll(args: argparse.Namespace) -> int:
    try:
        config, state_dir = _setup(args)
    except agent_config.ConfigError as exc:
        return _fail(str(exc), 2)
    server_url = args.server or config.server
    if not server_url:
        return _fail("no server: give --server or set `server` in the configuration", 2)
    try:
        server = transport.check_server_url(server_url, args.allow_http or config.allow_http)
    except transport.TransportError as exc:
        return _fail(exc.message, 2)
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            return _fail(f"cannot read the secret: {exc}", 2)
    else:
        secret = args.secret
    ca_file = args.ca_file or (str(config.ca_file) if config.ca_file else None)
    report = collect(live_machine(), Selection(only=frozenset({"host"})), probe_timeout_s=30)
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
            ca_file=ca_file,
            timeout=config.timeout,
            proxy=config.proxy,
        )
    except transport.TransportError as exc:
        return _fail(f"enrollment failed: {exc.message}")
    site = answer.get("site")
    path = agent_state.save(
        state_dir,
        agent_state.AgentState(
            server=server,
            agent_id=answer["agent_id"],
            token=answer["token"],
            machine_id=host.machine_id,
            site=site if isinstance(site, str) else None,
            ca_file=ca_file,
        ),
    )
    print(f"enrolled as agent {answer['agent_id']}; state in {path}")
    return 0


def _machine_factory(args: argparse.Namespace) -> Callable[[], Machine]:
    """Raises BundleError for an unusable ``--replay`` bundle. Support bundles (with the
    Windows registry file parser) are imported only for ``--replay``: the service on a PC
    never needs them, and would carry them between jobs."""
    if args.replay is None:
        return live_machine
    from agent.bundle import open_bundle  # noqa: PLC0415

    replay: Path = args.replay

    def from_bundle() -> Machine:
        return open_bundle(replay)

    open_bundle(replay)  # fail at start, not at the first job
    return from_bundle


# Exit code of `run --once` when the report is safely queued but could not be sent (yet).
EX_TEMPFAIL = 75


def cmd_run(args: argparse.Namespace) -> int:
    for name in ("agent.scheduler", "agent.spool", "agent.delta", "agent.transport", log.name):
        logging.getLogger(name).setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        config, state_dir = _setup(args)
    except agent_config.ConfigError as exc:
        return _fail(str(exc), 2)
    try:
        machine = _machine_factory(args)
    except ValueError as exc:  # BundleError (agent.bundle is imported only for --replay)
        return _fail(str(exc), 2)
    try:
        agent_state.load(state_dir)  # enrolled at all?
        lock = agent_state.StateLock(state_dir, timeout_s=10.0 if args.once else 120.0)
        lock.__enter__()
    except agent_state.StateError as exc:
        return _fail(str(exc), 2)
    try:
        service = scheduler.Service(
            config,
            state_dir,
            machine,
            server=args.server,
            ca_file=args.ca_file,
            allow_http=args.allow_http,
        )
        service.enrollment()
    except (agent_state.StateError, transport.TransportError) as exc:
        lock.__exit__()
        return _fail(str(exc), 2)
    try:
        if args.once:
            return _once(service)
        return _serve(service)
    finally:
        lock.__exit__()


def _once(service: scheduler.Service) -> int:
    try:
        result = service.cycle("full")
    except scheduler.ServiceError as exc:
        return _fail(str(exc))
    for report_id, status in result.sent:
        print(f"report {report_id}: {status}")
    if result.stopped:
        return _fail(result.stopped)
    if result.error:
        return _fail(
            f"{result.queued} report(s) queued, sending failed: {result.error}", EX_TEMPFAIL
        )
    return 0


def _serve(service: scheduler.Service) -> int:
    timetable = service.build_timetable()

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        forked.stop_children()
        timetable.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "inventar-agent service started; state in %s, %d report(s) queued",
        service.state_dir,
        len(service.spool),
    )
    timetable.run()  # until a signal; the process sleeps between jobs
    return 0


def _when(value: object) -> str:
    return value if isinstance(value, str) else "never"


def cmd_status(args: argparse.Namespace) -> int:
    try:
        config, state_dir = _setup(args)
    except agent_config.ConfigError as exc:
        return _fail(str(exc), 2)
    lines: list[str] = []
    rc = 0
    try:
        st = agent_state.load(state_dir)
        lines.append(
            f"enrolled:      yes, agent {st.agent_id} at {config.server or st.server} "
            f"(site {config.site or st.site or '-'}, machine {st.machine_id})"
        )
        fingerprint: str | None = agent_state.token_fingerprint(st.token)
    except agent_state.StateError as exc:
        lines.append(f"enrolled:      no ({exc})")
        fingerprint = None
        rc = 1
    status = agent_state.load_status(state_dir)
    ok = status.get("last_success")
    if isinstance(ok, dict):
        kind = f"{ok.get('kind', '?')}{', delta' if ok.get('delta') else ''}"
        lines.append(
            f"last success:  {_when(ok.get('at'))}: report {ok.get('report_id')} ({kind}) "
            f"{ok.get('status')}"
        )
    else:
        lines.append("last success:  never")
    err = status.get("last_error")
    if isinstance(err, dict):
        lines.append(f"last error:    {_when(err.get('at'))}: {err.get('message')}")
    else:
        lines.append("last error:    none")
    revoked = status.get("revoked")
    if isinstance(revoked, dict) and fingerprint and revoked.get("token") == fingerprint:
        lines.append(
            f"sending:       STOPPED since {revoked.get('at')}: the collector refused this "
            f"agent's token ({revoked.get('message')}); enroll again"
        )
        rc = 1
    else:
        lines.append("sending:       on")
    count, size, oldest = spool.peek(state_dir / "spool")
    since = ""
    if oldest is not None:
        since = f", oldest from {dt.datetime.fromtimestamp(oldest, dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
    lines.append(f"queue:         {count} report(s), {size} bytes{since}")
    base = delta.load_base(state_dir)
    lines.append(
        f"delta base:    report {base.report_id}"
        if base
        else "delta base:    none (next report is a full inventory)"
    )
    print("\n".join(lines))
    return rc


# -- discover -------------------------------------------------------------------------------


def _add_discover(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("discover", help="find the devices on a network (ARP sweep, needs root)")
    p.add_argument("--interface", required=True, help="network interface, e.g. eth0")
    p.add_argument(
        "--cidr", required=True, help=f"network to sweep, at most a /{discover.MAX_PREFIX}"
    )
    p.add_argument(
        "--ports",
        default=",".join(map(str, discover.DEFAULT_PORTS)),
        help="TCP ports to try on each device ('' for none; default %(default)s)",
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--send", action="store_true", help="send the result to the collector")
    p.add_argument(
        "--allow-large",
        action="store_true",
        help=f"allow networks larger than /{discover.MAX_PREFIX}",
    )
    p.add_argument(
        "--rate", type=float, default=discover.DEFAULT_RATE, help="ARP requests per second"
    )
    p.add_argument(
        "--wait", type=float, default=discover.DEFAULT_WAIT, help="seconds to wait for answers"
    )
    p.add_argument("--allow-http", action="store_true", help="allow plain http (testing only)")
    _config_arg(p)
    _state_dir_arg(p)
    p.set_defaults(func=cmd_discover)


def format_table(result: discover.Result) -> str:
    lines = [f"{'IP':<16} {'MAC':<18} {'VENDOR':<40} OPEN PORTS"]
    for d in result.devices:
        ports = ",".join(map(str, d.open_ports)) or "-"
        lines.append(f"{d.ip:<16} {d.mac:<18} {(d.vendor or '-')[:40]:<40} {ports}")
    lines.append(f"{len(result.devices)} device(s) on {result.interface} {result.cidr}")
    return "\n".join(lines)


def cmd_discover(args: argparse.Namespace) -> int:
    try:
        ports = discover.parse_ports(args.ports)
        if not 0 < args.rate <= 10000 or not 0 < args.wait <= 60:
            raise discover.DiscoveryError("--rate must be in (0, 10000] and --wait in (0, 60]")
        config, state_dir = _setup(args) if args.send else (None, None)
        result = discover.discover(
            args.interface,
            args.cidr,
            ports=ports,
            allow_large=args.allow_large,
            rate=args.rate,
            wait=args.wait,
        )
    except discover.DiscoveryError as exc:
        return _fail(exc.message, exc.exit_code)
    except agent_config.ConfigError as exc:
        return _fail(str(exc), 2)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_table(result))
    if args.send:
        assert config is not None and state_dir is not None
        try:
            answer = scheduler.send_discovery(result, config, state_dir, allow_http=args.allow_http)
        except (agent_state.StateError, transport.TransportError) as exc:
            return _fail(f"sending the discovery failed: {exc}")
        print(
            f"sent: {answer.get('devices')} device(s), {answer.get('new')} new, "
            f"site {answer.get('site')}",
            file=sys.stderr,
        )
    return 0
