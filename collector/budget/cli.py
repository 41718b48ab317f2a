"""`inventar-collector budget` and `inventar-collector assets import`.

The collector's CLI calls :func:`register` with its subparsers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select

from collector.budget import MAX_YEARS, build_forecast
from collector.budget.assets import AssetImportError, parse_assets, store_assets
from collector.budget.lifecycle import LifecycleError, load_lifecycle, parse_overrides
from collector.budget.render import BINARY_FORMATS, FORMATS, render
from collector.cli_database import add_database_option, database_from, settings_from
from collector.models import Asset, Host
from collector.services import get_org


def register(subparsers: Any) -> None:
    """Add `budget` and `assets` (import) to ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "budget",
        help="replacement budget forecast per year, site and category",
        description="Devices due for replacement (age) or purchases that fix a failing "
        "ergonomics check, per year, site and category, with their cost.",
    )
    add_database_option(p)
    p.add_argument("--from-year", type=int, metavar="Y", help="first year (default: this year)")
    p.add_argument("--years", type=int, default=5, metavar="N", help=f"years 1..{MAX_YEARS}")
    p.add_argument("--site", metavar="S", help="only this site")
    p.add_argument("--org", metavar="ORG", help="only this organization (default: all)")
    p.add_argument(
        "--lifecycle",
        type=Path,
        metavar="FILE",
        help="replacement cycles and unit prices (default: policies/data/lifecycle.yaml)",
    )
    p.add_argument(
        "--replace-after",
        nargs="+",
        action="extend",
        default=[],
        metavar="CATEGORY=YEARS",
        help="what-if: another replacement cycle, e.g. desktop=6 laptop=5",
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--output", type=Path, metavar="FILE", help="write here (xlsx, png: needed)")
    p.add_argument(
        "--devices",
        action="store_true",
        help="json: add the list of devices (host details); csv: that list instead of the rows",
    )
    p.add_argument(
        "--policies",
        type=Path,
        metavar="DIR",
        help="policy packs directory whose data/lifecycle.yaml is the default lifecycle",
    )
    p.set_defaults(func=cmd_budget)

    assets = subparsers.add_parser("assets", help="asset register (purchase data)")
    sub = assets.add_subparsers(dest="assets_command", required=True)
    p = sub.add_parser(
        "import",
        help="import purchase data from CSV (serial, asset_tag, purchase_date, price_eur, "
        "cost_center); a known serial is updated",
    )
    add_database_option(p)
    p.add_argument("--org", metavar="ORG", help="organization (default: the default one)")
    p.add_argument("file", type=Path, metavar="FILE.csv")
    p.set_defaults(func=cmd_assets_import)


def _fail(message: str) -> int:
    print(f"inventar-collector: {message}", file=sys.stderr)
    return 2


def cmd_budget(args: argparse.Namespace) -> int:
    if args.format in BINARY_FORMATS and args.output is None:
        return _fail(f"--format {args.format} writes a file: give --output FILE")
    try:
        lifecycle = load_lifecycle(
            args.lifecycle, args.policies or settings_from(args).policies_dir
        )
        overrides = parse_overrides(args.replace_after)
    except LifecycleError as exc:
        return _fail(exc.message)
    db = database_from(args)
    try:
        with db.session() as session:
            org_id = get_org(session, args.org).id if args.org else None
            result = build_forecast(
                session,
                lifecycle,
                from_year=args.from_year,
                years=args.years,
                site=args.site,
                org_id=org_id,
                overrides=overrides,
            )
    except LifecycleError as exc:
        return _fail(exc.message)
    finally:
        db.dispose()
    data = render(result, args.format, devices=args.devices or args.format == "xlsx")
    if args.output is None:
        sys.stdout.write(data.decode("utf-8"))
        return 0
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        return _fail(f"{args.output}: {exc.strerror or exc}")
    print(f"wrote {args.output} ({args.format}, {len(data)} bytes)", file=sys.stderr)
    return 0


def cmd_assets_import(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        with path.open("rb") as handle:
            data = handle.read(50 * 1024 * 1024)
    except OSError as exc:
        return _fail(f"{path}: {exc.strerror or exc}")
    try:
        rows = parse_assets(data)
    except AssetImportError as exc:
        for error in exc.errors:
            print(f"inventar-collector: {path}: {error}", file=sys.stderr)
        print(f"inventar-collector: {path}: nothing imported", file=sys.stderr)
        return 1
    db = database_from(args)
    try:
        with db.write_session() as session:
            org = get_org(session, args.org)
            assert org.id is not None
            result = store_assets(session, org.id, rows, source=str(args.file))
            linked = session.exec(
                select(func.count(func.distinct(Asset.serial)))
                .join(Host, (col(Host.serial) == col(Asset.serial)) & (Host.org_id == org.id))
                .where(Asset.org_id == org.id)
            ).one()
    finally:
        db.dispose()
    print(
        f"{path}: {result.created} created, {result.updated} updated;"
        f" {linked} serial(s) in the register match a host"
    )
    return 0
