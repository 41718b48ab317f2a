"""``inventar-collector ssh add | list | remove | collect``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from collector.cli_database import database_from, database_parent
from collector.services import ServiceError
from collector.ssh.names import host_label
from collector.ssh.settings import SshSettings
from collector.ssh.targets import ROLES, TargetSpec, add_target, list_targets, remove_target

log = logging.getLogger("inventar.collector.ssh")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the `ssh` command (add, list, remove, collect) to the collector's parser."""
    common = database_parent()
    ssh: argparse.ArgumentParser = subparsers.add_parser(
        "ssh", help="hosts without agent, collected over SSH"
    )
    sub = ssh.add_subparsers(dest="ssh_command", required=True)

    p = sub.add_parser("add", parents=[common], help="add a host to collect over SSH")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=22)
    p.add_argument("--user", required=True)
    auth = p.add_mutually_exclusive_group(required=True)
    auth.add_argument("--key", type=Path, metavar="FILE", help="private key file (path stored)")
    auth.add_argument(
        "--password-env", metavar="VAR", help="environment variable holding the password"
    )
    auth.add_argument(
        "--password-file", type=Path, metavar="FILE", help="file with the password (mode 0600)"
    )
    p.add_argument("--site", required=True)
    p.add_argument(
        "--known-hosts",
        type=Path,
        metavar="FILE",
        help="known_hosts to verify the host key (default $INVENTAR_SSH_KNOWN_HOSTS)",
    )
    p.add_argument("--role", choices=ROLES)
    root = p.add_mutually_exclusive_group()
    root.add_argument(
        "--sudo", action="store_true", help="become root with sudo -n (NOPASSWD) where needed"
    )
    root.add_argument(
        "--sudo-password-env", metavar="VAR", help="sudo with the password in this variable"
    )
    root.add_argument(
        "--sudo-password-file", type=Path, metavar="FILE",
        help="sudo with the password in this file (mode 0600)",
    )  # fmt: skip
    p.add_argument(
        "--jump", metavar="USER@HOST[:PORT]",
        help="reach the host through this jump host (as OpenSSH's ProxyJump)",
    )  # fmt: skip
    p.add_argument(
        "--jump-key", type=Path, metavar="FILE",
        help="private key for the jump host (default: the target's key or password)",
    )  # fmt: skip
    p.add_argument(
        "--trust-on-first-use",
        action="store_true",
        help="fetch the host's key now and record it in known_hosts (first use only)",
    )
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", parents=[common], help="list the SSH targets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("remove", parents=[common], help="remove an SSH target")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=22)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("collect", parents=[common], help="collect the SSH targets now")
    p.add_argument("--once", action="store_true", help="one round, then exit (1 if any failed)")
    p.add_argument("--host", action="append", help="only this host (repeatable; port 22 or H:P)")
    p.set_defaults(func=cmd_collect)
    return ssh


def cmd_add(args: argparse.Namespace) -> int:
    from collector.ssh.session import SshError, trust_on_first_use  # noqa: PLC0415  (paramiko)

    settings = SshSettings()
    spec = TargetSpec(
        host=args.host,
        port=args.port,
        user=args.user,
        site=args.site,
        key_file=args.key,
        password_env=args.password_env,
        password_file=args.password_file,
        known_hosts=args.known_hosts,
        role=args.role,
        sudo=args.sudo,
        sudo_password_env=args.sudo_password_env,
        sudo_password_file=args.sudo_password_file,
        jump=args.jump,
        jump_key_file=args.jump_key,
    )
    db = database_from(args)
    with db.session() as session:
        target = add_target(session, spec)
    known = args.known_hosts or settings.known_hosts
    if args.trust_on_first_use:
        from collector.ssh.collect import jump_of  # noqa: PLC0415  (paramiko)

        try:
            jump = jump_of(target)
            if jump is not None:
                fp, added = trust_on_first_use(jump.host, jump.port, known,
                                               settings.connect_timeout)  # fmt: skip
                shown = "trusted on first use" if added else "known already"
                print(f"jump host {jump.label}: host key {fp} {shown}")
            fp, added = trust_on_first_use(
                args.host, args.port, known, settings.connect_timeout, jump=jump
            )
        except SshError as exc:
            with db.session() as session:
                remove_target(session, args.host, args.port)
            print(f"inventar-collector: {exc.message}; target not added", file=sys.stderr)
            return 1
        if added:
            print(f"trusted on first use: host key {fp} of {args.host}, recorded in {known}")
        else:
            print(f"host key {fp} of {args.host} is known already in {known}")
    print(f"SSH target {args.user}@{host_label(args.host, args.port)} (id {target.id}) added")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        rows = list_targets(session)
    for t, site in rows:
        auth = (
            f"key {t.key_file}"
            if t.key_file
            else (
                f"password ${t.password_env}"
                if t.password_env
                else f"password file {t.password_file}"
            )
        )
        if t.sudo:
            auth += f", sudo ({'NOPASSWD' if t.sudo == 'nopasswd' else 'with password'})"
        if t.jump:
            auth += f", via {t.jump}"
        when = t.last_success_at.isoformat(timespec="seconds") if t.last_success_at else "never"
        state = f"error: {t.last_error}" if t.last_error else "ok"
        print(
            f"{t.user}@{host_label(t.host, t.port)}\t{site.name}\t{auth}\t"
            f"last success {when}\t{state if t.last_attempt_at else 'not collected yet'}"
            + (f"\t{t.last_access}" if t.last_access else "")
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        remove_target(session, args.host, args.port)
    print(f"SSH target {host_label(args.host, args.port)} removed")
    return 0


def _hosts(values: list[str] | None) -> set[tuple[str, int]] | None:
    if not values:
        return None
    out = set()
    for value in values:
        host, sep, port = value.rpartition(":")
        if sep and port.isdigit() and "]" not in port:
            out.add((host.strip("[]"), int(port)))
        else:
            out.add((value, 22))
    return out


def cmd_collect(args: argparse.Namespace) -> int:
    from collector.ssh.collect import collect_all  # noqa: PLC0415  (paramiko only when needed)

    for name in ("collector.ssh.collect",):
        logging.getLogger(name).setLevel(logging.INFO)
    settings = SshSettings()
    db = database_from(args)
    hosts = _hosts(args.host)
    if args.once:
        outcomes = collect_all(db, settings, hosts=hosts)
        if not outcomes:
            raise ServiceError("no SSH targets to collect (add one with `ssh add`)")
        for o in outcomes:
            print(f"{o.label}: {'ok' if o.ok else 'FAILED'}: {o.message} ({o.seconds:.1f} s)")
        from collector.findings import evaluate_imported  # noqa: PLC0415

        evaluate_imported(db, [o.host_id for o in outcomes if o.stored and o.host_id])
        return 0 if all(o.ok for o in outcomes) else 1
    if settings.interval <= 0:
        raise ServiceError("INVENTAR_SSH_INTERVAL is 0: use --once")
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop:
        for o in collect_all(db, settings, hosts=hosts):
            print(f"{o.label}: {'ok' if o.ok else 'FAILED'}: {o.message}", flush=True)
        deadline = time.monotonic() + settings.interval
        while not stop and time.monotonic() < deadline:
            time.sleep(min(1.0, deadline - time.monotonic()))
    return 0
