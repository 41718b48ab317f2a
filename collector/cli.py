"""inventar-collector: serve | db | orgs | sites | enroll-secret | token | agents | import."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from collector import __version__
from collector.budget import cli as budget_cli
from collector.cli_database import database_from, database_parent, settings_from
from collector.db import Database
from collector.findings import cli as findings_cli
from collector.findings import evaluate_imported
from collector.ingest import store_report
from collector.models import ROLES, SITE_KINDS
from collector.policy import cli as policy_cli
from collector.report_decoding import BadReport, parse_report
from collector.services import (
    ServiceError,
    add_org,
    add_site,
    create_api_token,
    create_enroll_secret,
    get_site,
    list_agents,
    list_orgs,
    list_sites,
    revoke_agent,
)
from collector.settings import MAX_DECODE_WORKERS, Settings
from collector.ssh import cli as ssh_cli

log = logging.getLogger("inventar.collector")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415  (only serve needs the web stack)

    from collector.main import create_app  # noqa: PLC0415

    settings = settings_from(args)
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            print("inventar-collector: --tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        settings.tls_cert, settings.tls_key = args.tls_cert, args.tls_key
    if args.decode_workers is not None:
        settings.decode_workers = args.decode_workers
    db = database_from(args, settings)
    app = create_app(settings, db)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level=args.log_level,
        access_log=args.access_log,
        server_header=False,
    )
    return 0


def _worker_count(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_DECODE_WORKERS:
        raise argparse.ArgumentTypeError(f"a number from 0 to {MAX_DECODE_WORKERS}")
    return int(text)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    db = Database(settings_from(args).database_url)
    db.upgrade()
    print("database is at the newest schema")
    return 0


def cmd_orgs_add(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        org = add_org(session, args.name)
    print(f"organization {org.name} (id {org.id})")
    return 0


def cmd_orgs_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        for org in list_orgs(session):
            print(f"{org.id}\t{org.name}")
    return 0


def cmd_sites_add(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        site = add_site(session, args.name, args.kind, args.org)
    print(f"site {site.name} ({site.kind}, id {site.id})")
    return 0


def cmd_sites_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        sites = list_sites(session)
    if args.json:
        print(json.dumps([vars(s) for s in sites], indent=2))
        return 0
    for s in sites:
        print(f"{s.id}\t{s.name}\t{s.kind}\t{s.org}\t{s.hosts} host(s)")
    return 0


def cmd_enroll_secret_create(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        secret = create_enroll_secret(session, args.site)
    print(f"enrollment secret for site {args.site} (shown once; stored only as a hash):")
    print(secret)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        token = create_api_token(session, args.role, args.name, args.org)
    scope = f"organization {args.org}" if args.org else "all organizations"
    print(f"{args.role} token for {scope} (shown once; stored only as a hash):")
    print(token)
    return 0


def cmd_agents_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        for agent, site in list_agents(session):
            state = "revoked" if agent.revoked else "active"
            print(f"{agent.id}\t{site}\t{agent.hostname or '-'}\t{agent.machine_id}\t{state}")
    return 0


def cmd_agents_revoke(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        agent = revoke_agent(session, args.agent_id)
    print(f"agent {agent.id} revoked")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = database_from(args, settings)
    limits = settings.limits
    failed = 0
    for path in args.files:
        try:
            data = path.read_bytes()
            if len(data) > limits.max_decompressed_bytes:
                raise BadReport(413, f"file exceeds {limits.max_decompressed_bytes} bytes")
            report = parse_report(data, limits)
            assert report.host is not None
            site_name = args.site or report.host.site
            if not site_name:
                raise ServiceError("the report names no site (host.site); give --site")
            with db.write_session() as session:
                site = get_site(session, site_name)
                result = store_report(
                    session, report, data.decode("utf-8"), site=site, source="import"
                )
        except (OSError, BadReport, ServiceError) as exc:
            message = exc.message if isinstance(exc, BadReport | ServiceError) else str(exc)
            extra = ""
            if isinstance(exc, BadReport) and exc.errors:
                extra = "; " + "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors[:5]
                )
            print(f"inventar-collector: {path}: {message}{extra}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: {result.status} (host {result.host_id}, report {result.report_id})")
        evaluate_imported(db, [result.host_id] if result.status == "stored" else [])
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    common = database_parent()
    parser = argparse.ArgumentParser(
        prog="inventar-collector", description="Inventar collector: stores agents' reports."
    )
    parser.add_argument("--version", action="version", version=f"inventar-collector {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", parents=[common], help="run the HTTP API")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8740)")
    p.add_argument("--tls-cert", type=Path, help="certificate chain (PEM)")
    p.add_argument("--tls-key", type=Path, help="private key (PEM)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--no-access-log", dest="access_log", action="store_false")
    p.add_argument(
        "--decode-workers",
        type=_worker_count,
        metavar="N",
        help="processes that decode and validate reports (default: one per core beyond the "
        "first, at most 4; 0 = none)",
    )
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("upgrade", parents=[common], help="apply the migrations")
    p.set_defaults(func=cmd_db_upgrade)

    orgs = sub.add_parser("orgs", help="organizations").add_subparsers(
        dest="orgs_command", required=True
    )
    p = orgs.add_parser("add", parents=[common], help="add an organization")
    p.add_argument("name")
    p.set_defaults(func=cmd_orgs_add)
    p = orgs.add_parser("list", parents=[common], help="list organizations")
    p.set_defaults(func=cmd_orgs_list)

    sites = sub.add_parser("sites", help="sites").add_subparsers(
        dest="sites_command", required=True
    )
    p = sites.add_parser("add", parents=[common], help="add a site")
    p.add_argument("name")
    p.add_argument("--kind", required=True, choices=SITE_KINDS)
    p.add_argument("--org", help="organization (default: the default organization)")
    p.set_defaults(func=cmd_sites_add)
    p = sites.add_parser("list", parents=[common], help="list sites")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sites_list)

    secrets = sub.add_parser("enroll-secret", help="agent enrollment secrets").add_subparsers(
        dest="secret_command", required=True
    )
    p = secrets.add_parser("create", parents=[common], help="create a secret for a site")
    p.add_argument("--site", required=True)
    p.set_defaults(func=cmd_enroll_secret_create)

    tokens = sub.add_parser("token", help="API tokens for people").add_subparsers(
        dest="token_command", required=True
    )
    p = tokens.add_parser("create", parents=[common], help="create an API token")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--name", help="who or what the token is for")
    p.add_argument("--org", help="limit the token to one organization (default: all)")
    p.set_defaults(func=cmd_token_create)

    agents = sub.add_parser("agents", help="enrolled agents").add_subparsers(
        dest="agents_command", required=True
    )
    p = agents.add_parser("list", parents=[common], help="list agents")
    p.set_defaults(func=cmd_agents_list)
    p = agents.add_parser("revoke", parents=[common], help="revoke an agent's token")
    p.add_argument("agent_id")
    p.set_defaults(func=cmd_agents_revoke)

    p = sub.add_parser(
        "import", parents=[common], help="import reports saved by `inventar-agent collect`"
    )
    p.add_argument("--site", help="site of the hosts (default: the report's host.site)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(func=cmd_import)
    policy_cli.register(sub)
    findings_cli.register(sub)
    ssh_cli.register(sub)
    budget_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        rc: int = args.func(args)
    except ServiceError as exc:
        print(f"inventar-collector: {exc.message}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        for error in exc.errors(include_url=False, include_input=False):
            name = "INVENTAR_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"inventar-collector: {name}: {error['msg']}", file=sys.stderr)
        return 2
    return rc
