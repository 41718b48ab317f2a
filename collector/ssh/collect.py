"""Collecting SSH targets: the agent's Linux probes against a remote machine, then the same
ingestion as an agent's report (validated by ``parse_report``, stored by ``store`` with
``source="ssh"``).

How a collection gets in (collector.ssh.access): through a jump host if the target names one;
files over SFTP, or through the exec channel (``cat``, ``ls``, ``stat``) where the server
refuses the SFTP subsystem; root through sudo where the target says so. A collection that
cannot read the basics (machine id, hostname, OS) fails with the reason and sends no report.

Several hosts are collected at once (``INVENTAR_SSH_PARALLEL`` sessions); each has its own
deadline (``INVENTAR_SSH_TIMEOUT``): past it its session is closed and the host is reported
as timed out, so a hung host never holds up the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from agent.context import Machine
from agent.report import HostConfig, Selection, collect
from agent.schema import Report, encode
from collector.db import Database
from collector.ingest import store
from collector.limits import Limits
from collector.models import Site, SshTarget, utcnow
from collector.report_decoding import BadReport, parse_report
from collector.ssh import access
from collector.ssh.calls import ProcCalls
from collector.ssh.names import host_label, parse_jump
from collector.ssh.session import (
    Credentials,
    Jump,
    SshError,
    SshSession,
    connect,
    read_password,
)
from collector.ssh.settings import SshSettings
from collector.ssh.sudo import Sudo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    host: str
    port: int
    ok: bool
    message: str
    seconds: float
    access: str | None = None  # how the collection got in (files, sudo)
    host_id: int | None = None
    report_id: str | None = None
    stored: bool = False  # a new report (not a duplicate)

    @property
    def label(self) -> str:
        return host_label(self.host, self.port)


def credentials(target: SshTarget) -> Credentials:
    if target.key_file:
        return Credentials(target.user, key_file=target.key_file)
    return Credentials(
        target.user, password=read_password(target.password_env, target.password_file)
    )


def jump_of(target: SshTarget) -> Jump | None:
    """The target's jump host: its own key file, else the target's credentials."""
    if not target.jump:
        return None
    user, host, port = parse_jump(target.jump)
    own = credentials(target)
    if target.jump_key_file:
        return Jump(host, port, Credentials(user, key_file=target.jump_key_file))
    return Jump(host, port, Credentials(user, key_file=own.key_file, password=own.password))


def sudo_of(target: SshTarget) -> Sudo | None:
    if target.sudo == "nopasswd":
        return Sudo()
    if target.sudo == "password":
        try:
            password = read_password(target.sudo_password_env, target.sudo_password_file)
        except SshError as exc:
            raise SshError(f"sudo: {exc.message}") from None
        return Sudo(password)
    return None


@dataclass(frozen=True)
class Collected:
    report: Report
    access: str  # how it got in, for the outcome and `ssh list`


def collect_report(
    target: SshTarget, site_name: str, settings: SshSettings, cancel: _Cancel | None = None
) -> Collected:
    """The report of one target, or SshError (connect, host key, auth, shell, platform,
    basics unreadable, timeout)."""
    cancel = cancel or _Cancel()
    known_hosts = Path(target.known_hosts) if target.known_hosts else settings.known_hosts
    sudo = sudo_of(target)
    session = connect(
        target.host,
        target.port,
        credentials(target),
        known_hosts,
        timeout=settings.connect_timeout,
        command_timeout=settings.probe_timeout,
        jump=jump_of(target),
    )
    try:
        cancel.attach(session)
        way = access.open_way(session, sudo, settings.connect_timeout)
        machine = Machine(way.runner, way.files, ProcCalls(way.runner, way.files), "linux")
        report = collect(
            machine,
            Selection(),
            HostConfig(site=site_name, role=target.role),
            probe_timeout_s=settings.probe_timeout,
        )
    finally:
        session.close()
    if cancel.expired:
        raise SshError(f"{session.label}: collection took longer than {settings.timeout:g} s")
    access.check_basics(session.label, report, way)
    return Collected(report, way.describe())


class _Cancel:
    """A host's deadline: when it passes, its session is closed (blocked reads fail)."""

    def __init__(self) -> None:
        self.expired = False
        self._session: SshSession | None = None
        self._lock = threading.Lock()

    def attach(self, session: SshSession) -> None:
        with self._lock:
            self._session = session
            if self.expired:
                session.close()

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._session is not None:
                self._session.close()


def store_ssh_report(
    db: Database, target_id: int, report: Report, limits: Limits
) -> tuple[str, int, str]:
    """Validates the report as any report and stores it with ``source="ssh"``: its status
    ("stored" or "duplicate"), host id and report id."""
    parsed = parse_report(encode(report), limits)
    with db.write_session() as session:
        target = session.get(SshTarget, target_id)
        if target is None:
            raise SshError("the target was removed during collection")
        site = session.get(Site, target.site_id)
        assert site is not None and site.id is not None
        result = store(
            session, parsed, site_id=site.id, org_id=site.org_id, agent_id=None, source="ssh"
        )
    if result.status == "stored":
        _notify_findings(db, result.host_id)
    return result.status, result.host_id, result.report_id


def _notify_findings(db: Database, host_id: int) -> None:
    """Queues the host for policy evaluation, as reports from agents are (in `serve`)."""
    try:
        from collector.findings import notify  # noqa: PLC0415
    except ImportError:  # pragma: no cover - findings are optional
        return
    notify(db, host_id)


def _record(db: Database, target_id: int, outcome: Outcome, when: dt.datetime) -> None:
    with db.write_session() as session:
        target = session.get(SshTarget, target_id)
        if target is None:
            return
        target.last_attempt_at = when
        if outcome.access is not None:
            target.last_access = outcome.access[:4000]
        if outcome.ok:
            target.last_success_at = when
            target.last_error = None
            target.host_id = outcome.host_id
        else:
            target.last_error = outcome.message[:4000]
        session.add(target)
        session.commit()


def collect_one(
    db: Database, target: SshTarget, site: Site, settings: SshSettings, limits: Limits
) -> Outcome:
    """Collects and stores one target within its deadline; never raises."""
    assert target.id is not None
    started = time.monotonic()
    when = utcnow()
    cancel = _Cancel()
    timer = threading.Timer(settings.timeout, cancel.expire)
    timer.daemon = True
    timer.start()
    label = host_label(target.host, target.port)

    def failed(message: str) -> Outcome:
        return Outcome(target.host, target.port, False, message, time.monotonic() - started)

    try:
        collected = collect_report(target, site.name, settings, cancel)
        report = collected.report
        status, host_id, report_id = store_ssh_report(db, target.id, report, limits)
        outcome = Outcome(
            target.host,
            target.port,
            True,
            f"{status} (host {host_id}, report {report_id}, "
            f"{len(report.collection.errors)} collection error(s); {collected.access})",
            time.monotonic() - started,
            collected.access,
            host_id,
            report_id,
            status == "stored",
        )
    except SshError as exc:
        outcome = failed(exc.message)
    except BadReport as exc:
        outcome = failed(f"{label}: report refused: {exc.message}")
    except Exception as exc:  # one host's failure must not end the round
        log.exception("SSH collection of %s failed", label)
        outcome = failed(f"{label}: internal error: {type(exc).__name__}: {exc}")
    finally:
        timer.cancel()
    if outcome.ok:
        log.info("SSH %s: %s in %.1f s", outcome.label, outcome.message, outcome.seconds)
    else:
        log.warning("SSH %s: %s", outcome.label, outcome.message)
    _record(db, target.id, outcome, when)
    return outcome


def collect_all(
    db: Database,
    settings: SshSettings | None = None,
    *,
    hosts: set[tuple[str, int]] | None = None,
    limits: Limits | None = None,
) -> list[Outcome]:
    """One round: every target (or those in ``hosts``), ``settings.parallel`` at a time."""
    settings = settings or SshSettings()
    limits = limits or Limits()
    with db.session() as session:
        rows = session.exec(
            select(SshTarget, Site).join(Site, Site.id == SshTarget.site_id)  # type: ignore[arg-type]
        ).all()
    targets = [(t, s) for t, s in rows if hosts is None or (t.host, t.port) in hosts]
    if not targets:
        return []
    with ThreadPoolExecutor(
        max_workers=min(settings.parallel, len(targets)), thread_name_prefix="ssh"
    ) as pool:
        futures = [pool.submit(collect_one, db, t, s, settings, limits) for t, s in targets]
        return [f.result() for f in futures]


def collect_due(
    db: Database, settings: SshSettings | None = None, *, limits: Limits | None = None
) -> list[Outcome]:
    """The scheduled round of one replica: claims due targets (collector.ssh.schedule),
    ``settings.parallel`` at a time, until none is due; each is due again after
    ``settings.interval``. Replicas share the targets; none is collected twice at once."""
    from collector.ssh import schedule  # noqa: PLC0415

    settings = settings or SshSettings()
    limits = limits or Limits()
    # Longer than a collection may take (its deadline), so a lease ends only by a crash.
    lease = settings.timeout + 60.0
    outcomes: list[Outcome] = []
    while ids := schedule.claim_due(db, settings.parallel, lease):
        with db.session() as session:
            rows = session.exec(
                select(SshTarget, Site)
                .join(Site, Site.id == SshTarget.site_id)  # type: ignore[arg-type]
                .where(SshTarget.id.in_(ids))  # type: ignore[union-attr]
            ).all()
        with ThreadPoolExecutor(max_workers=max(1, len(rows)), thread_name_prefix="ssh") as pool:
            futures = [pool.submit(collect_one, db, t, s, settings, limits) for t, s in rows]
            outcomes.extend(f.result() for f in futures)
        for target_id in ids:
            schedule.reschedule(db, target_id, settings.interval)
    return outcomes
