"""`inventar-collector users add | list | disable | password`: people of the web UI.

The collector's CLI calls :func:`register` with its subparsers. A password comes from a file
(``--password-file``: its first line), else from a prompt on a terminal; ``users add``
without either (a script, no terminal) makes a random one and prints it once.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path
from typing import Any

from collector.cli_database import add_database_option, database_from
from collector.models import PERSON_ROLES
from collector.people import add_user, disable_user, list_users, set_password
from collector.services import ServiceError


def register(subparsers: Any) -> argparse.ArgumentParser:
    users: argparse.ArgumentParser = subparsers.add_parser(
        "users", help="people who log in to the web UI"
    )
    sub = users.add_subparsers(dest="users_command", required=True)

    p = sub.add_parser("add", help="add a person (role and organization as API tokens)")
    add_database_option(p)
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=PERSON_ROLES)
    p.add_argument("--org", help="limit the person to one organization (default: all)")
    p.add_argument("--password-file", type=Path, metavar="F", help="first line: the password")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", help="list people: role, organization, state, last login")
    add_database_option(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("disable", help="disable a person's account (ends their sessions)")
    add_database_option(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_disable)

    p = sub.add_parser("password", help="set a new password (ends the person's sessions)")
    add_database_option(p)
    p.add_argument("name")
    p.add_argument("--password-file", type=Path, metavar="F", help="first line: the password")
    p.set_defaults(func=cmd_password)
    return users


def read_password(path: Path | None, *, may_generate: bool) -> tuple[str, bool]:
    """The password and whether it was generated here (and must be shown)."""
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ServiceError(f"--password-file {path}: {exc.strerror or exc}") from None
        if not lines or not lines[0]:
            raise ServiceError(f"--password-file {path}: the first line is empty")
        return lines[0], False
    if sys.stdin.isatty():
        first = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != first:
            raise ServiceError("the two passwords differ")
        return first, False
    if may_generate:
        return secrets.token_urlsafe(15), True
    raise ServiceError("give --password-file F (no terminal to prompt on)")


def cmd_add(args: argparse.Namespace) -> int:
    password, generated = read_password(args.password_file, may_generate=True)
    with database_from(args).session() as session:
        user = add_user(session, args.name, args.role, password, args.org)
    scope = f"organization {args.org}" if args.org else "all organizations"
    print(f"user {user.name}: {user.role} of {scope}")
    if generated:
        print("password (shown once; stored only as an argon2id hash):")
        print(password)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        rows = list_users(session)
    print("name\trole\torganization\tstate\tlast login")
    for user, org in rows:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "-"
        state = "disabled" if user.disabled else "active"
        print(f"{user.name}\t{user.role}\t{org or '(all)'}\t{state}\t{last}")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    with database_from(args).session() as session:
        user = disable_user(session, args.name)
    print(f"user {user.name} disabled; their sessions have ended")
    return 0


def cmd_password(args: argparse.Namespace) -> int:
    password, _ = read_password(args.password_file, may_generate=False)
    with database_from(args).session() as session:
        user = set_password(session, args.name, password)
    print(f"user {user.name}: new password set; their sessions have ended")
    return 0
