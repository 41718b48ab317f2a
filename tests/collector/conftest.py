from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.db import Database
from collector.main import create_app
from collector.services import add_org, add_site, create_api_token, create_enroll_secret
from collector.settings import Settings
from tests.collector.helpers import BACKENDS, database_url

# Small limits keep the bad-input tests fast; the logic is the same as with the defaults.
TEST_LIMITS = {"max_body_bytes": 1024 * 1024, "max_decompressed_bytes": 4 * 1024 * 1024}


@dataclass
class Env:
    db: Database
    client: TestClient
    secret: str
    admin: str
    viewer: str
    planner: str
    agents: dict[str, tuple[str, str]] = field(default_factory=dict)

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def enroll(self, machine_id: str, secret: str | None = None) -> tuple[str, str]:
        r = self.client.post(
            "/api/v1/enroll",
            json={"secret": secret or self.secret, "machine_id": machine_id, "hostname": "h"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        self.agents[machine_id] = (body["agent_id"], body["token"])
        return body["agent_id"], body["token"]

    def post(self, token: str, report: dict[str, Any]) -> Any:
        return self.client.post("/api/v1/reports", json=report, headers=self.auth(token))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with database_url(backend, tmp_path) as url:
        yield url


@pytest.fixture
def decode_workers() -> int:
    """Decode worker processes of the app under test: none (decoded in-process) unless a
    test parametrizes this; tests/collector/test_decode_pool.py covers the workers."""
    return 0


@pytest.fixture
def env(db_url: str, decode_workers: int) -> Iterator[Env]:
    db = Database(db_url)
    db.upgrade()
    with db.session() as s:
        add_site(s, "GS Nord", "school")
        secret = create_enroll_secret(s, "GS Nord")
        admin = create_api_token(s, "admin")
        viewer = create_api_token(s, "viewer")
        planner = create_api_token(s, "planner")
        add_org(s, "Nachbarstadt")
        add_site(s, "Kita Sonnenschein", "kindergarten", "Nachbarstadt")
    settings = Settings(
        database_url=db_url,
        max_body_bytes=TEST_LIMITS["max_body_bytes"],
        max_decompressed_bytes=TEST_LIMITS["max_decompressed_bytes"],
        decode_workers=decode_workers,
    )
    app = create_app(settings, db)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(db, client, secret, admin, viewer, planner)
