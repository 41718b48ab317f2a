"""Single sign-on against real servers that the tests start: an OpenID provider
(oidc-provider-mock, authlib's OAuth 2 server in Flask, as its own process) and OpenLDAP's
slapd with its own CA and server certificate, over LDAPS and StartTLS. And one-time codes
(TOTP) of local accounts."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from sqlmodel import select

from collector.db import Database
from collector.main import create_app
from collector.models import AuditEntry, User
from collector.people import disable_user
from collector.settings import Settings
from tests.needs import missing
from tests.web.conftest import copy_fleet, csrf_of
from tests.web.fleet import PASSWORD, Fleet

# --- OpenID Connect ---------------------------------------------------------------------------

OIDC_USERS = [
    {"sub": "sub-anna", "preferred_username": "anna.schmidt", "email": "anna@stadt.example",
     "groups": ["/inventar-admins", "/musterstadt"]},
    {"sub": "sub-otto", "preferred_username": "otto", "groups": ["/sekretariat"]},
]  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} ended: {process.stderr.read() if process.stderr else b''!r}"
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The OpenID provider as its own process on a free loopback port; its issuer URL."""
    try:
        import oidc_provider_mock  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        missing("oidc-provider-mock is needed (the dev extra)")
    port = _free_port()
    argv = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port",
            str(port), "--require-nonce", "true"]  # fmt: skip
    for user in OIDC_USERS:
        argv += ["--user-claims", json.dumps(user)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    issuer = f"http://127.0.0.1:{port}"
    try:
        _wait_for(issuer + "/.well-known/openid-configuration", process, "the OpenID provider")
        yield issuer
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class App:
    http: Any
    db: Database


def _app(fleet_template: Fleet, tmp_path: Path, **settings: Any) -> Iterator[App]:
    from fastapi.testclient import TestClient

    tmp_path.mkdir(parents=True, exist_ok=True)
    fleet = copy_fleet(fleet_template, tmp_path)
    db = Database(fleet.url)
    app = create_app(Settings(database_url=fleet.url, decode_workers=0, **settings), db)
    yield App(TestClient(app, raise_server_exceptions=False), db)
    db.dispose()


@pytest.fixture
def oidc_app(provider: str, fleet_template: Fleet, tmp_path: Path) -> Iterator[App]:
    yield from _app(
        fleet_template, tmp_path, oidc_issuer=provider, oidc_client_id="inventar",
        oidc_client_secret="geheim", oidc_label="Stadtportal",
        oidc_role_map={"inventar-admins": "admin", "inventar-lesen": "viewer"},
        oidc_org_map={"musterstadt": "Musterstadt", "nachbarstadt": "Nachbarstadt"},
    )  # fmt: skip


def _oidc_login(app: App, sub: str, next_url: str = "/hosts") -> Any:
    """The browser's way: our redirect to the provider, the person picks their account
    there, the provider's redirect back to our callback."""
    start = app.http.get(f"/login/oidc?next={next_url}", follow_redirects=False)
    assert start.status_code == 303, start.text
    start.pending = _pending(app)
    authorize = start.headers["location"]
    answer = httpx.post(authorize, data={"sub": sub}, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.path == "/login/oidc/callback"
    return app.http.get(f"{back.path}?{back.query}", follow_redirects=False), start


def _pending(app: App) -> list[str]:
    """What the login keeps in its cookie until the callback."""
    value: list[str] = json.loads(base64.urlsafe_b64decode(app.http.cookies.get("inventar_oidc")))
    return value


def test_oidc_login_with_pkce_creates_the_person_from_the_groups(oidc_app: App) -> None:
    login = oidc_app.http.get("/login")
    assert "Anmelden mit Stadtportal" in login.text
    callback, start = _oidc_login(oidc_app, "sub-anna")
    # The authorization request carried a PKCE challenge (S256) of the verifier kept for the
    # callback, and state and nonce.
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
    cookie = next(h for h in start.headers.get_list("set-cookie") if "inventar_oidc=" in h)
    assert "httponly" in cookie.lower()
    state, nonce, verifier, _next = start.pending
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert query["code_challenge"] == [challenge.rstrip(b"=").decode()]
    assert query["state"] == [state] and query["nonce"] == [nonce]
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/hosts"
    page = oidc_app.http.get("/hosts")
    assert page.status_code == 200 and "anna.schmidt" in page.text
    with oidc_app.db.session() as s:
        anna = s.exec(select(User).where(User.name == "anna.schmidt")).one()
        actions = [e.action for e in s.exec(select(AuditEntry).where(
            AuditEntry.actor == "user:anna.schmidt"))]  # fmt: skip
    assert (anna.source, anna.role, anna.password_hash) == ("oidc", "admin", "!")
    assert anna.org_id is not None and (anna.external_id or "").endswith("|sub-anna")
    assert actions == ["user.oidc_add", "login"]
    # Musterstadt's admin: another organization's hosts stay unseen.
    assert "gyo-" not in page.text and "gsn-" in page.text


def test_oidc_refuses_a_person_without_a_mapped_group(oidc_app: App) -> None:
    callback, _start = _oidc_login(oidc_app, "sub-otto")
    assert callback.status_code == 403
    assert "Anmeldung abgelehnt" in callback.text
    assert "keine Rolle" in callback.text
    assert "inventar_session" not in callback.headers.get("set-cookie", "")
    with oidc_app.db.session() as s:
        assert s.exec(select(User).where(User.name == "otto")).first() is None


def test_oidc_refuses_a_callback_it_did_not_start_and_a_wrong_nonce(oidc_app: App) -> None:
    forged = oidc_app.http.get("/login/oidc/callback?code=abc&state=xyz", follow_redirects=False)
    assert forged.status_code == 400
    start = oidc_app.http.get("/login/oidc", follow_redirects=False)
    answer = httpx.post(start.headers["location"], data={"sub": "sub-anna"},
                        follow_redirects=False, timeout=10)  # fmt: skip
    state, _nonce, verifier, next_url = _pending(oidc_app)
    forged_nonce = json.dumps([state, "another", verifier, next_url]).encode()
    oidc_app.http.cookies.set("inventar_oidc", base64.urlsafe_b64encode(forged_nonce).decode())
    back = urlsplit(answer.headers["location"])
    refused = oidc_app.http.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert refused.status_code == 502 and "nonce" in refused.text


def test_a_disabled_persons_session_ends_at_its_next_request(oidc_app: App) -> None:
    callback, _start = _oidc_login(oidc_app, "sub-anna")
    assert callback.status_code == 303
    assert oidc_app.http.get("/", follow_redirects=False).status_code == 200
    with oidc_app.db.session() as s:
        disable_user(s, "anna.schmidt")
    ended = oidc_app.http.get("/hosts", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    # The provider still vouches for her; the admin's decision wins.
    again, _start = _oidc_login(oidc_app, "sub-anna")
    assert again.status_code == 403 and "disabled" in again.text


# --- LDAP / Active Directory --------------------------------------------------------------------

SLAPD = Path("/usr/sbin/slapd")
BASE = "dc=stadt,dc=example"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


@dataclass
class Directory:
    ldaps: str
    ldap: str
    ca: Path
    admin_dn: str
    admin_password: str


def _certificates(directory: Path) -> None:
    """A CA of its own and a server certificate for 127.0.0.1 signed by it (cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Inventar test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(server.public_bytes(pem))
    (directory / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    (directory / "server.key").chmod(0o600)


LDIF = f"""dn: {BASE}
objectClass: dcObject
objectClass: organization
o: Stadt
dc: stadt

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{BASE}
objectClass: organizationalUnit
ou: groups

dn: uid=bernd,ou=people,{BASE}
objectClass: inetOrgPerson
uid: bernd
cn: Bernd Beispiel
sn: Beispiel
userPassword: {{PASSWORD}}

dn: uid=otto,ou=people,{BASE}
objectClass: inetOrgPerson
uid: otto
cn: Otto Ohnegruppe
sn: Ohnegruppe
userPassword: {{PASSWORD}}

dn: cn=inventar-lesen,ou=groups,{BASE}
objectClass: groupOfNames
cn: inventar-lesen
member: uid=bernd,ou=people,{BASE}

dn: cn=musterstadt,ou=groups,{BASE}
objectClass: groupOfNames
cn: musterstadt
member: uid=bernd,ou=people,{BASE}

dn: cn=sekretariat,ou=groups,{BASE}
objectClass: groupOfNames
cn: sekretariat
member: uid=otto,ou=people,{BASE}
"""


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    """slapd (Debian's OpenLDAP) on two free loopback ports, LDAPS and LDAP (for StartTLS),
    with a minimal configuration and data of its own."""
    if not SLAPD.exists() or shutil.which("slappasswd") is None:
        missing("slapd and ldap-utils are needed (apt-get install slapd ldap-utils)")
    tmp = tmp_path_factory.mktemp("slapd")
    _certificates(tmp)
    (tmp / "db").mkdir()
    admin_password = "ldap-admin-geheim"
    hashed = subprocess.run(["slappasswd", "-s", admin_password], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    user_hash = subprocess.run(["slappasswd", "-s", PASSWORD], capture_output=True, text=True,
                               check=True).stdout.strip()  # fmt: skip
    includes = "\n".join(f"include /etc/ldap/schema/{s}.schema" for s in SCHEMAS)
    config = tmp / "slapd.conf"
    config.write_text(f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {tmp}/slapd.pid
TLSCACertificateFile {tmp}/ca.pem
TLSCertificateFile {tmp}/server.pem
TLSCertificateKeyFile {tmp}/server.key
database mdb
maxsize 10485760
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
rootpw {hashed}
directory {tmp}/db
access to attrs=userPassword by self read by anonymous auth by * none
access to * by users read by * none
""", encoding="utf-8")  # fmt: skip
    data = tmp / "data.ldif"
    data.write_text(LDIF.replace("{PASSWORD}", user_hash), encoding="utf-8")
    subprocess.run(["slapadd", "-f", str(config), "-l", str(data)], check=True,
                   capture_output=True)  # fmt: skip
    ldaps_port, ldap_port = _free_port(), _free_port()
    urls = f"ldaps://127.0.0.1:{ldaps_port}/ ldap://127.0.0.1:{ldap_port}/"
    process = subprocess.Popen([str(SLAPD), "-f", str(config), "-h", urls, "-d", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while (
            subprocess.run(
                ["ldapwhoami", "-x", "-H", f"ldap://127.0.0.1:{ldap_port}"], capture_output=True
            ).returncode
            != 0
        ):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.1)
        yield Directory(f"ldaps://127.0.0.1:{ldaps_port}", f"ldap://127.0.0.1:{ldap_port}",
                        tmp / "ca.pem", f"cn=admin,{BASE}", admin_password)  # fmt: skip
    finally:
        process.terminate()
        process.wait(10)


def _ldap_settings(d: Directory, **extra: Any) -> dict[str, Any]:
    return {
        "ldap_url": d.ldaps, "ldap_ca_file": d.ca, "ldap_bind_dn": d.admin_dn,
        "ldap_bind_password": d.admin_password, "ldap_user_base": f"ou=people,{BASE}",
        "ldap_group_base": f"ou=groups,{BASE}",
        "ldap_role_map": {"inventar-admins": "admin", "inventar-lesen": "viewer"},
        "ldap_org_map": {"musterstadt": "Musterstadt"}, **extra,
    }  # fmt: skip


def _login(app: App, user: str, password: str = PASSWORD, otp: str = "") -> Any:
    form = app.http.get("/login")
    return app.http.post(
        "/login",
        data={"csrf_token": csrf_of(form.text), "username": user, "password": password,
              "next": "/", "otp": otp},
        follow_redirects=False,
    )  # fmt: skip


@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
def test_ldap_login_over_tls_maps_the_groups(
    directory: Directory, fleet_template: Fleet, tmp_path: Path, transport: str
) -> None:
    extra = {"ldap_url": directory.ldap, "ldap_starttls": True} if transport == "starttls" else {}
    for app in _app(fleet_template, tmp_path, **_ldap_settings(directory, **extra)):
        assert "Verzeichniskonto" in app.http.get("/login").text
        assert _login(app, "bernd", "falsch-falsch-falsch").status_code == 401
        assert _login(app, "*").status_code == 401  # a filter character is only a character
        assert _login(app, "bernd", "").status_code == 401  # never an unauthenticated bind
        ok = _login(app, "bernd")
        assert ok.status_code == 303, ok.text
        assert app.http.get("/hosts").status_code == 200
        with app.db.session() as s:
            bernd = s.exec(select(User).where(User.name == "bernd")).one()
        assert (bernd.source, bernd.role) == ("ldap", "viewer")
        assert bernd.external_id == f"uid=bernd,ou=people,{BASE}" and bernd.org_id is not None
        refused = _login(app, "otto")
        assert refused.status_code == 403 and "keine Rolle" in refused.text
        # Local accounts still work beside the directory (the first admin, emergencies).
        assert _login(app, "admin").status_code == 303


def test_ldap_refuses_plain_ldap_and_an_untrusted_certificate(
    directory: Directory, fleet_template: Fleet, tmp_path: Path
) -> None:
    plain = _ldap_settings(directory, ldap_url=directory.ldap)
    for app in _app(fleet_template, tmp_path / "plain", **plain):
        answer = _login(app, "bernd")
        assert answer.status_code == 503 and answer.headers["retry-after"]
    untrusted = _ldap_settings(directory, ldap_ca_file=None)  # the system's trust store
    for app in _app(fleet_template, tmp_path / "untrusted", **untrusted):
        assert _login(app, "bernd").status_code == 503


def test_a_disabled_ldap_persons_session_ends_at_its_next_request(
    directory: Directory, fleet_template: Fleet, tmp_path: Path
) -> None:
    for app in _app(fleet_template, tmp_path, **_ldap_settings(directory)):
        assert _login(app, "bernd").status_code == 303
        assert app.http.get("/hosts", follow_redirects=False).status_code == 200
        with app.db.session() as s:
            disable_user(s, "bernd")
        assert app.http.get("/hosts", follow_redirects=False).status_code == 303
        assert _login(app, "bernd").status_code == 403  # the directory's yes is not enough


# --- one-time codes -----------------------------------------------------------------------------


def test_totp_for_a_local_account(fleet_template: Fleet, tmp_path: Path) -> None:
    for app in _app(fleet_template, tmp_path):
        assert _login(app, "viewer").status_code == 303
        token = csrf_of(app.http.get("/account").text)
        page = app.http.post("/account/totp/start", data={"csrf_token": token})
        secret = page.text.split('id="totp-secret">')[1].split("<")[0]
        wrong = app.http.post("/account/totp/on", data={
            "csrf_token": csrf_of(page.text), "secret": secret, "otp": "000000"})  # fmt: skip
        assert wrong.status_code == 400
        totp = pyotp.TOTP(secret)
        on = app.http.post("/account/totp/on", data={
            "csrf_token": csrf_of(page.text), "secret": secret, "otp": totp.now()},
            follow_redirects=False)  # fmt: skip
        assert on.status_code == 303
        assert _login(app, "viewer").status_code == 401  # the password alone is not enough
        code = totp.now()
        assert _login(app, "viewer", otp=code).status_code == 303
        assert _login(app, "viewer", otp=code).status_code == 401  # a code works once
        with app.db.session() as s:
            actions = [e.action for e in s.exec(select(AuditEntry).where(
                AuditEntry.actor == "user:viewer"))]  # fmt: skip
        assert "user.totp_on" in actions
