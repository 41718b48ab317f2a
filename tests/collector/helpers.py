"""Shared by the collector's tests: databases (SQLite, PostgreSQL) and report factories."""

from __future__ import annotations

import datetime as dt
import os
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgres"]


def postgres_url() -> str:
    return os.environ.get("INVENTAR_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _unavailable(reason: str) -> None:
    # Under CI a missing PostgreSQL is a failure, not a skip: the test must really run.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL unavailable under CI=true: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, uniquely named schema; yields a URL whose search_path points at it."""
    import psycopg

    base = postgres_url()
    plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"inv_test_{uuid.uuid4().hex[:16]}"
    try:
        conn = psycopg.connect(plain, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _unavailable(str(exc).strip())
        raise
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    options = urllib.parse.quote(f"-csearch_path={schema}")
    try:
        yield f"{base}{sep}options={options}"
    finally:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'inventar.db'}"
    else:
        with postgres_schema() as url:
            yield url


def make_report(
    machine_id: str = "m-0001",
    hostname: str = "pc-0001",
    *,
    software: int = 3,
    site: str | None = None,
    collected_at: dt.datetime | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A valid schema-1 report as plain JSON data."""
    when = collected_at or dt.datetime.now(dt.UTC)
    report: dict[str, Any] = {
        "schema_version": 1,
        "report_id": str(uuid.uuid4()),
        "collected_at": when.isoformat(),
        "agent": {"id": None, "version": "0.1.0"},
        "host": {
            "machine_id": machine_id,
            "hostname": hostname,
            "chassis": "desktop",
            "site": site,
            "role": "workplace",
            "tags": [],
        },
        "os": {"family": "linux", "name": "Debian GNU/Linux", "version": "12", "arch": "x86_64"},
        "hardware": {"cpu_model": "Intel Core i5-8500", "cpu_cores": 6, "memory_bytes": 8 << 30},
        "displays": [
            {"connector": "card0-DP-1", "vendor_pnp": "DEL", "diagonal_in": 24.0, "year": 2019}
        ],
        "network": {
            "interfaces": [
                {
                    "name": "eth0",
                    "mac": "00:11:22:33:44:55",
                    "addresses": ["10.0.0.5/24"],
                    "up": True,
                    "kind": "ethernet",
                }
            ]
        },
        "wlan": {
            "interfaces": [
                {
                    "name": "wlan0",
                    "connected": True,
                    "ssid": "Schule",
                    "security": "wpa2-enterprise",
                }
            ]
        },
        "patches": {
            "manager": "apt",
            "pending": [
                {"name": "openssl", "installed": "3.0.1", "available": "3.0.2", "security": True}
            ],
            "pending_count": 1,
            "pending_security_count": 1,
        },
        "software": [
            {"name": f"pkg{i}", "version": f"1.{i}", "publisher": "Debian"} for i in range(software)
        ],
        "collection": {"errors": []},
    }
    report.update(sections)
    return report
