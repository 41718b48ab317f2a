"""`make run`: a collector on embedded SQLite with one enrolled local agent, until Ctrl-C.

Creates (or reuses) the site "Rathaus (dev)", an enrollment secret, an admin token and the
web UI's first admin (user "admin", a new random password at every run), enrolls this
machine's agent with its state under ./var/agent, sends one report, then keeps the collector
serving on http://127.0.0.1:8740.
"""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlmodel import select

from collector.db import Database
from collector.models import Site, User, utcnow
from collector.people import add_user, set_password
from collector.services import add_site, create_api_token, create_enroll_secret
from collector.settings import Settings

SITE = "Rathaus (dev)"
WEB_ADMIN = "admin"


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the collector exited; is port already in use?")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the collector did not become ready")


def main() -> int:
    settings = Settings()
    port = settings.port
    url = f"http://127.0.0.1:{port}"
    db = Database(settings.database_url)
    db.upgrade()
    with db.session() as session:
        if session.exec(select(Site).where(Site.name == SITE)).first() is None:
            add_site(session, SITE, "town-hall")
        # A re-imaging secret, used once: `make run` again enrolls this machine anew and
        # replaces the agent of the last run (a plain secret would get 409: enrolled already).
        secret = create_enroll_secret(
            session, SITE, expires_at=utcnow() + dt.timedelta(hours=1), max_uses=1,
            replace_agents=True, name="make run",
        )  # fmt: skip
        admin = create_api_token(session, "admin", "make run")
        password = secrets.token_urlsafe(15)
        if session.exec(select(User).where(User.name == WEB_ADMIN)).first() is None:
            add_user(session, WEB_ADMIN, "admin", password)
        else:
            set_password(session, WEB_ADMIN, password)
    db.dispose()
    bindir = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(bindir / "inventar-collector"), "serve", "--port", str(port), "--log-level", "warning"]
    )
    try:
        _wait_ready(url, server)
        state = Path("var") / "agent"
        agent = str(bindir / "inventar-agent")
        subprocess.run(
            [agent, "enroll", "--server", url, "--secret", secret, "--state-dir", str(state)],
            check=True,
        )
        subprocess.run([agent, "run", "--once", "--state-dir", str(state)], check=True)
        print()
        print(f"Inventar collector: {url}  (API docs {url}/docs, metrics {url}/metrics)")
        print(f"web UI: {url}/  user {WEB_ADMIN}  password {password}")
        print(f"  curl -H 'Authorization: Bearer {admin}' {url}/api/v1/hosts")
        print("admin token:")
        print(admin)
        print("Serving until Ctrl-C.", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
