"""Static files: the vendored htmx is the pinned npm package's file, served with a long
cache lifetime under a versioned URL."""

from __future__ import annotations

import json
from pathlib import Path

from collector.web.render import STATIC, static_url
from tests.web.conftest import NPM_DIR, Client, ensure_npm_packages


def test_the_vendored_htmx_is_the_pinned_package() -> None:
    ensure_npm_packages()
    lock = json.loads((NPM_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pinned = json.loads((NPM_DIR / "package.json").read_text(encoding="utf-8"))
    version = pinned["devDependencies"]["htmx.org"]
    assert lock["packages"]["node_modules/htmx.org"]["version"] == version
    package = NPM_DIR / "node_modules" / "htmx.org"
    assert (package / "dist" / "htmx.min.js").read_bytes() == (STATIC / "htmx.min.js").read_bytes()
    assert (package / "LICENSE").read_bytes() == (STATIC / "htmx.LICENSE").read_bytes()
    assert f"| {version} |" in (STATIC / "VENDORED.md").read_text(encoding="utf-8")


def test_static_files_are_cached_under_a_versioned_url(client: Client) -> None:
    url = static_url("style.css")
    response = client.http.get(url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.text == Path(STATIC / "style.css").read_text(encoding="utf-8")
    assert client.http.get("/static/0000/style.css").status_code == 404
    assert client.http.get(url.replace("style.css", "../web/__init__.py")).status_code == 404
