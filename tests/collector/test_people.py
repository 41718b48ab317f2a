"""People's accounts from the command line: add, list, disable, new password."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from collector.cli import main
from collector.db import Database
from collector.models import User, WebSession
from collector.people import session_person, start_session, verify_password


def _cli(db_url: str, *args: str) -> int:
    return main([*args[:2], "--database-url", db_url, *args[2:]])


def test_users_add_list_disable_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    url = f"sqlite:///{tmp_path / 'people.db'}"
    secret = tmp_path / "pw"
    secret.write_text("ein langes Passwort\n", encoding="utf-8")
    assert _cli(url, "users", "add", "anna", "--role", "admin", "--password-file", str(secret)) == 0
    assert _cli(url, "orgs", "add", "Musterstadt") == 0
    assert _cli(url, "users", "add", "ben", "--role", "viewer", "--org", "Musterstadt") == 0
    out = capsys.readouterr().out
    generated = out.strip().splitlines()[-1]  # no file, no terminal: made and shown once
    assert len(generated) >= 16
    assert (
        _cli(url, "users", "add", "anna", "--role", "viewer", "--password-file", str(secret)) == 1
    )
    assert _cli(url, "users", "add", "kurz", "--role", "viewer", "--password-file",
                str(tmp_path / "missing")) == 1  # fmt: skip
    short = tmp_path / "short"
    short.write_text("zu kurz\n", encoding="utf-8")
    assert _cli(url, "users", "add", "kurz", "--role", "viewer", "--password-file", str(short)) == 1
    assert "at least 12 characters" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # metrics is not a person's role
        _cli(url, "users", "add", "prom", "--role", "metrics")

    db = Database(url)
    with db.session() as s:
        anna = s.exec(select(User).where(User.name == "anna")).one()
        ben = s.exec(select(User).where(User.name == "ben")).one()
        assert anna.password_hash.startswith("$argon2id$")
        assert "ein langes Passwort" not in anna.password_hash
        assert verify_password(anna, "ein langes Passwort")
        assert not verify_password(anna, "ein langes Passwort!")
        assert verify_password(ben, generated) and ben.org_id is not None and anna.org_id is None
        token = start_session(s, anna)
        assert session_person(s, token) is not None

    assert _cli(url, "users", "list") == 0
    listing = capsys.readouterr().out
    assert "anna\tadmin\t(all)\tactive" in listing and "ben\tviewer\tMusterstadt\tactive" in listing

    new = tmp_path / "new"
    new.write_text("ein anderes Passwort\n", encoding="utf-8")
    assert _cli(url, "users", "password", "anna", "--password-file", str(new)) == 0
    with db.session() as s:
        anna = s.exec(select(User).where(User.name == "anna")).one()
        assert verify_password(anna, "ein anderes Passwort")
        assert s.exec(select(WebSession)).first() is None  # the old session ended
        token = start_session(s, anna)

    assert _cli(url, "users", "disable", "anna") == 0
    with db.session() as s:
        assert session_person(s, token) is None
        assert s.exec(select(User).where(User.name == "anna")).one().disabled
    assert (
        "anna\tadmin\t(all)\tdisabled" in (_cli(url, "users", "list"), capsys.readouterr().out)[1]
    )
    assert _cli(url, "users", "disable", "nobody") == 1
    db.dispose()
