"""inventar-collector's administrative commands, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector.cli import main
from collector.db import Database
from tests.collector.helpers import make_report


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    Database(db_url).upgrade()
    monkeypatch.setenv("INVENTAR_DATABASE_URL", db_url)

    def run(*argv: str) -> tuple[int, str, str]:
        rc = main(list(argv))
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_orgs_sites_secrets_tokens(cli, db_url: str) -> None:
    assert cli("orgs", "add", "Landkreis")[0] == 0
    assert cli("orgs", "add", "Landkreis")[0] == 1  # exists
    assert cli("sites", "add", "Rathaus", "--kind", "town-hall")[0] == 0
    assert cli("sites", "add", "GS Ost", "--kind", "school", "--org", "Landkreis")[0] == 0
    rc, _, err = cli("sites", "add", "X", "--kind", "school", "--org", "Nowhere")
    assert rc == 1 and "unknown organization" in err
    rc, out, _ = cli("sites", "list", "--json")
    assert {(s["name"], s["org"]) for s in json.loads(out)} == {
        ("Rathaus", "default"),
        ("GS Ost", "Landkreis"),
    }
    rc, out, _ = cli("enroll-secret", "create", "--site", "Rathaus")
    assert rc == 0 and _last_line(out).startswith("inv_enr_")
    rc, _, err = cli("enroll-secret", "create", "--site", "Nowhere")
    assert rc == 1 and "unknown site" in err
    rc, out, _ = cli("token", "create", "--role", "viewer", "--name", "Anna", "--org", "Landkreis")
    assert rc == 0 and _last_line(out).startswith("inv_api_")
    with Database(db_url).engine.connect() as conn:
        hashes = conn.execute(sa.text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert _last_line(out) not in hashes


def test_import_and_agents(cli, tmp_path: Path) -> None:
    cli("sites", "add", "Rathaus", "--kind", "town-hall")
    named = tmp_path / "named.json"
    named.write_text(json.dumps(make_report("m-1", "pc-1", site="Rathaus")))
    unnamed = tmp_path / "unnamed.json"
    unnamed.write_text(json.dumps(make_report("m-2", "pc-2")))
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps(make_report("m-3", "pc-3", site="Nowhere")))
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1}')

    rc, out, _ = cli("import", str(named))
    assert rc == 0 and "stored" in out
    rc, out, _ = cli("import", str(named))
    assert rc == 0 and "duplicate" in out
    rc, _, err = cli("import", str(unnamed))
    assert rc == 1 and "--site" in err
    rc, out, _ = cli("import", "--site", "Rathaus", str(unnamed))
    assert rc == 0
    rc, _, err = cli("import", str(unknown), str(broken))
    assert rc == 1 and "unknown site" in err and "report_id" in err
    rc, out, _ = cli("sites", "list")
    assert "Rathaus\ttown-hall\tdefault\t2 host(s)" in out

    rc, _, err = cli("agents", "revoke", "no-such-agent")
    assert rc == 1 and "unknown agent" in err


def test_bad_settings_are_refused_with_their_name(
    cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INVENTAR_DECODE_WORKERS", "-1")
    rc, _, err = cli("sites", "list")
    assert rc == 2 and "INVENTAR_DECODE_WORKERS" in err and "greater than or equal to 0" in err
    monkeypatch.delenv("INVENTAR_DECODE_WORKERS")
    for bad in ("-1", "65", "two"):
        with pytest.raises(SystemExit) as exit_:
            main(["serve", "--decode-workers", bad])
        assert exit_.value.code == 2
        assert "a number from 0 to 64" in capsys.readouterr().err
