"""inventar-collector: serve | db | orgs | sites | enroll-secret | token | agents | import |
users | vulns."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from collector import __version__, people_cli
from collector.budget import cli as budget_cli
from collector.cli_database import database_from, database_parent, settings_from
from collector.db import Database
from collector.findings import cli as findings_cli
from collector.findings import evaluate_imported
from collector.ingest import store_report
from collector.models import ROLES, SITE_KINDS
from collector.policy import cli as policy_cli
from collector.report_decoding import BadReport, parse_report
from collector.security import is_loopback
from collector.services import (
    ServiceError,
    accept_identity,
    add_org,
    add_site,
    create_api_token,
    create_enroll_secret,
    credential_state,
    get_site,
    list_agents,
    list_api_tokens,
    list_enroll_secrets,
    list_orgs,
    list_sites,
    move_host,
    parse_expiry,
    revoke_agent,
    revoke_api_token,
    revoke_enroll_secret,
)
from collector.settings import MAX_DECODE_WORKERS, Settings
from collector.ssh import cli as ssh_cli
from collector.vulns import cli as vulns_cli

log = logging.getLogger("inventar.collector")

EXPIRES_HELP = "a duration (90d, 12h), a date (2027-03-31: to its end) or an ISO time"


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
    refusal = metrics_refusal(settings, db)
    if refusal:
        print(f"inventar-collector: {refusal}", file=sys.stderr)
        return 2
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


def metrics_refusal(settings: Settings, db: Database) -> str | None:
    """Why ``serve`` must not start: a non-loopback address with /metrics unprotected. With
    no metrics credentials anywhere Prometheus could not scrape it, and opening it silently
    would show every organization's hosts to the network."""
    if is_loopback(settings.host) or settings.metrics_public:
        return None
    if settings.metrics_token or settings.metrics_basic_auth:
        return None
    try:
        with db.session() as session:
            if any(
                credential_state(t.revoked, t.expires_at) == "active" and t.role == "metrics"
                for t, _org in list_api_tokens(session)
            ):
                return None
    except SQLAlchemyError:
        pass  # not migrated yet: no tokens
    return (
        f"refusing to serve on {settings.host} with /metrics unprotected. Set "
        "INVENTAR_METRICS_TOKEN_FILE (a file holding a random token; Prometheus sends it "
        "with `authorization: credentials_file`), INVENTAR_METRICS_TOKEN or "
        "INVENTAR_METRICS_BASIC_AUTH, or create a metrics token (inventar-collector token "
        "create --role metrics [--org ORG]); INVENTAR_METRICS_PUBLIC=true opens /metrics to "
        "everyone deliberately"
    )


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


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def cmd_enroll_secret_create(args: argparse.Namespace) -> int:
    expires = parse_expiry(args.expires) if args.expires else None
    with database_from(args).session() as session:
        secret = create_enroll_secret(
            session,
            args.site,
            expires_at=expires,
            max_uses=args.max_uses,
            replace_agents=args.replace_agents,
            name=args.name,
        )
    limits = [f"expires {_when(expires)}" if expires else "no expiry"]
    limits.append(f"at most {args.max_uses} uses" if args.max_uses else "unlimited uses")
    if args.replace_agents:
        limits.append("REPLACES active agents of this site's machines (re-imaging)")
    print(f"enrollment secret for site {args.site} ({'; '.join(limits)}; shown once, stored "
          "only as a hash):")  # fmt: skip
    print(secret)
    return 0


def cmd_enroll_secret_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        rows = list_enroll_secrets(session, args.site)
    print("id\tsite\tname\tstate\tuses\tlast used\texpires\treplace agents")
    for secret, site in rows:
        uses = f"{secret.uses}/{secret.max_uses}" if secret.max_uses else str(secret.uses)
        state = credential_state(secret.revoked, secret.expires_at)
        if state == "active" and secret.max_uses is not None and secret.uses >= secret.max_uses:
            state = "used up"
        print(
            f"{secret.id}\t{site}\t{secret.name or '-'}\t{state}\t{uses}\t"
            f"{_when(secret.last_used_at)}\t{_when(secret.expires_at)}\t"
            f"{'yes' if secret.replace_agents else 'no'}"
        )
    return 0


def cmd_enroll_secret_revoke(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        secret = revoke_enroll_secret(session, args.secret_id)
    print(f"enrollment secret {secret.id} revoked")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    expires = parse_expiry(args.expires) if args.expires else None
    with database_from(args).session() as session:
        token = create_api_token(session, args.role, args.name, args.org, expires_at=expires)
    scope = f"organization {args.org}" if args.org else "all organizations"
    until = f", expires {_when(expires)}" if expires else ""
    print(f"{args.role} token for {scope}{until} (shown once; stored only as a hash):")
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        rows = list_api_tokens(session)
    print("id\trole\torganization\tname\tstate\tlast used\texpires\tcreated")
    for token, org in rows:
        print(
            f"{token.id}\t{token.role}\t{org or '(all)'}\t{token.name or '-'}\t"
            f"{credential_state(token.revoked, token.expires_at)}\t{_when(token.last_used_at)}\t"
            f"{_when(token.expires_at)}\t{_when(token.created_at)}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        token = revoke_api_token(session, args.token_id)
    print(f"API token {token.id} ({token.role}) revoked")
    return 0


def cmd_agents_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        rows = list_agents(session)
    print("agent\tsite\thostname\tmachine id\tstate\tlast contact\tenrolled")
    for agent, site, last_contact in rows:
        state = "active"
        if agent.revoked:
            state = f"replaced by {agent.replaced_by}" if agent.replaced_by else "revoked"
        print(
            f"{agent.id}\t{site}\t{agent.hostname or '-'}\t{agent.machine_id}\t{state}\t"
            f"{_when(last_contact)}\t{_when(agent.created_at)}"
        )
    return 0


def cmd_agents_revoke(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        agent = revoke_agent(session, args.agent_id)
    print(f"agent {agent.id} revoked; the machine may enroll again with its site's secret")
    return 0


def cmd_hosts_move(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        host, old = move_host(session, args.host_id, args.site)
    print(f"host {host.id} ({host.hostname or host.machine_id}) moved from {old} to {args.site}")
    return 0


def cmd_hosts_identity_ok(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        host = accept_identity(session, args.host_id)
    print(f"host {host.id}: its present hardware identity is accepted")
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
                result = store_report(session, report, site=site, source="import")
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
    p.add_argument("--name", help="what the secret is for (shown by list)")
    p.add_argument("--expires", metavar="WHEN", help=EXPIRES_HELP)
    p.add_argument("--max-uses", type=int, metavar="N", help="enroll at most N machines")
    p.add_argument(
        "--replace-agents",
        action="store_true",
        help="re-imaging: the secret may enroll a machine of this site that has an active "
        "agent, revoking that agent (needs --expires, at most 30 days)",
    )
    p.set_defaults(func=cmd_enroll_secret_create)
    p = secrets.add_parser("list", parents=[common], help="list secrets: state, uses, last use")
    p.add_argument("--site", help="only this site's secrets")
    p.set_defaults(func=cmd_enroll_secret_list)
    p = secrets.add_parser("revoke", parents=[common], help="revoke a secret (by its id)")
    p.add_argument("secret_id", type=int)
    p.set_defaults(func=cmd_enroll_secret_revoke)

    tokens = sub.add_parser("token", help="API tokens for people").add_subparsers(
        dest="token_command", required=True
    )
    p = tokens.add_parser("create", parents=[common], help="create an API token")
    p.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="admin, viewer, planner; metrics = may only read /metrics (Prometheus)",
    )
    p.add_argument("--name", help="who or what the token is for")
    p.add_argument("--org", help="limit the token to one organization (default: all)")
    p.add_argument("--expires", metavar="WHEN", help=EXPIRES_HELP)
    p.set_defaults(func=cmd_token_create)
    p = tokens.add_parser("list", parents=[common], help="list tokens: role, scope, last use")
    p.set_defaults(func=cmd_token_list)
    p = tokens.add_parser("revoke", parents=[common], help="revoke a token (by its id)")
    p.add_argument("token_id", type=int)
    p.set_defaults(func=cmd_token_revoke)

    agents = sub.add_parser("agents", help="enrolled agents").add_subparsers(
        dest="agents_command", required=True
    )
    p = agents.add_parser("list", parents=[common], help="list agents")
    p.set_defaults(func=cmd_agents_list)
    p = agents.add_parser("revoke", parents=[common], help="revoke an agent's token")
    p.add_argument("agent_id")
    p.set_defaults(func=cmd_agents_revoke)

    hosts = sub.add_parser("hosts", help="hosts (admin actions)").add_subparsers(
        dest="hosts_command", required=True
    )
    p = hosts.add_parser("move", parents=[common], help="move a host to another site")
    p.add_argument("host_id", type=int)
    p.add_argument("--site", required=True)
    p.set_defaults(func=cmd_hosts_move)
    p = hosts.add_parser(
        "identity-ok",
        parents=[common],
        help="accept a host's changed hardware identity (finding sec.agent.identity-changed)",
    )
    p.add_argument("host_id", type=int)
    p.set_defaults(func=cmd_hosts_identity_ok)

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
    people_cli.register(sub)
    vulns_cli.register(sub)
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
            if not error["loc"]:  # a check across settings names its variables itself
                print(f"inventar-collector: {error['msg']}", file=sys.stderr)
                continue
            name = "INVENTAR_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"inventar-collector: {name}: {error['msg']}", file=sys.stderr)
        return 2
    return rc
