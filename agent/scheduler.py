"""The agent service: jobs on a timetable with random splay, the outbox, and deltas.

Three jobs (four where network discovery is configured), each on its own interval with
random splay so that a site's devices, booted at the same minute, spread their sends over
the splay window:

- ``full``: a full inventory (all sections but the configured ``skip_probes``);
- ``status``: a light report: os (boot time), network, wlan, security, and the patch state
  from the last patch refresh;
- ``patches``: refreshes the patch state (the expensive part: ``apt-cache policy``, dnf,
  zypper) and keeps it in the state directory for the light reports; it sends nothing
  itself. The state is computed afresh only when its sources changed, and at least every
  four patch intervals (agent.patch_cache);
- ``discovery``: where ``discovery_interface`` and ``discovery_cidr`` are set (and
  ``discovery_interval`` > 0), an ARP sweep (agent.discover) sent to the collector.

Each report is put into the spool (durable outbox) first, then the spool is drained oldest
first. A report leaves the spool only once the collector acknowledged it (2xx). After an
acknowledged full inventory the agent sends deltas (agent.delta). A transient failure keeps
the queue and retries with exponential backoff and jitter; a 401/403 stops sending until
the agent is enrolled again; a 409 ``need_full`` makes the next report a full one.

The jobs run one at a time (agent.timetable). The rare, heavy ones (full inventory, patch
refresh, discovery) run in a forked child (agent.forked), so that what they import and
allocate does not stay in the service between jobs; a status report runs in the service
itself (a fork would cost it more CPU than the report's own work saves memory).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import delta, discover, forked, memory, patch_cache, transport
from agent import state as agent_state
from agent.config import AgentConfig
from agent.context import Machine
from agent.report import HostConfig, Selection, collect
from agent.schema import SECTIONS, CollectionError, Patches, Report, to_data
from agent.spool import Kind, Spool
from agent.timetable import Slots, Timetable

log = logging.getLogger(__name__)

LIGHT_SECTIONS = ("os", "network", "wlan", "security", "patches")
# Per-run jitter of a job, as a fraction of min(splay, interval); the first run's splay is
# drawn so that first run + jitter stays inside the splay window.
JITTER_FRACTION = 0.1
MAX_RETRY_DELAY_S = 30 * 60.0
# The jobs that run in a forked child, and how long one may take before it is killed (a
# full inventory with its probe timeouts and a drain of a long queue stay far below).
FORKED_JOBS = frozenset({"full", "patches", "discovery"})
CHILD_DEADLINE_S = 3600.0


# -- schedule --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobPlan:
    name: str  # full | status | patches | discovery
    interval_s: float
    first_run: dt.datetime  # before the trigger's per-run jitter
    jitter_s: float

    def slots(self) -> Slots:
        return Slots(self.first_run.timestamp(), self.interval_s, self.jitter_s)

    def first_fire(self, rng: random.Random) -> dt.datetime:
        """The first run: ``first_run`` plus the run's jitter. Given to the timetable
        explicitly, so that a start a moment past ``first_run`` does not skip an interval."""
        slots = self.slots()
        return _time(slots.fire(slots.first_run, rng))

    def next_fire(self, after: dt.datetime, rng: random.Random) -> dt.datetime:
        """The run after a run that ended at ``after``: the next slot, plus jitter."""
        slots = self.slots()
        return _time(slots.fire(slots.slot_after(after.timestamp()), rng))


def _time(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def run_jitter(interval_s: float, splay_s: float) -> float:
    return min(splay_s, interval_s) * JITTER_FRACTION


def plan_jobs(
    config: AgentConfig,
    now: dt.datetime,
    rng: random.Random,
    *,
    has_base: bool,
    last_full_at: dt.datetime | None = None,
) -> list[JobPlan]:
    """When each job first runs. The first report goes out within ``splay`` of the start:
    a full inventory if the collector has none yet (or the last one is older than the full
    interval), else a light report. Each first run is ``now + uniform(0, splay - jitter)``;
    the trigger then adds ``uniform(0, jitter)``, so the first send lies in [now, now+splay].
    A configured discovery first runs within the splay window as well.
    """
    splay = config.splay

    def at(offset_s: float, interval_s: float) -> tuple[dt.datetime, float]:
        jitter = run_jitter(interval_s, splay)
        delay = offset_s + rng.uniform(0.0, max(0.0, splay - jitter))
        return now + dt.timedelta(seconds=delay), jitter

    # The first report is either a full inventory (none acknowledged yet, or the last one is
    # older than the full interval) or a light one; never both at once.
    if has_base and last_full_at is None:
        full_due = config.full_interval
    elif has_base and last_full_at is not None:
        full_due = (last_full_at - now).total_seconds() + config.full_interval
    else:
        full_due = 0.0
    full_due = max(0.0, full_due)
    full_first, full_jitter = at(full_due, config.full_interval)
    status_offset = config.status_interval if full_due == 0.0 else 0.0
    status_first, status_jitter = at(status_offset, config.status_interval)
    patch_first, patch_jitter = at(config.patch_interval, config.patch_interval)
    plans = [
        JobPlan("full", config.full_interval, full_first, full_jitter),
        JobPlan("status", config.status_interval, status_first, status_jitter),
        JobPlan("patches", config.patch_interval, patch_first, patch_jitter),
    ]
    if discovery_configured(config):
        discovery_first, discovery_jitter = at(0.0, config.discovery_interval)
        plans.append(
            JobPlan("discovery", config.discovery_interval, discovery_first, discovery_jitter)
        )
    return plans


def discovery_configured(config: AgentConfig) -> bool:
    return bool(config.discovery_interface and config.discovery_cidr and config.discovery_interval)


def enrollment(
    config: AgentConfig,
    state_dir: Path,
    *,
    server: str | None = None,
    ca_file: str | None = None,
    allow_http: bool = False,
) -> tuple[agent_state.AgentState, str, str | None]:
    """The enrolled state, the collector's URL and the CA file to verify it with: the given
    overrides (``run --server/--ca-file``), else the configuration, else what enrollment
    stored."""
    st = agent_state.load(state_dir)
    url = transport.check_server_url(
        server or config.server or st.server, allow_http or config.allow_http
    )
    ca = ca_file or (str(config.ca_file) if config.ca_file else None)
    return st, url, ca or st.ca_file


def send_discovery(
    result: discover.Result,
    config: AgentConfig,
    state_dir: Path,
    *,
    server: str | None = None,
    ca_file: str | None = None,
    allow_http: bool = False,
) -> dict[str, Any]:
    """Sends a network discovery to the collector this agent reports to (:func:`enrollment`
    says which), with its token, timeout and proxy; returns the collector's answer."""
    st, url, ca = enrollment(
        config, state_dir, server=server, ca_file=ca_file, allow_http=allow_http
    )
    return transport.send_discovery(
        url, st.token, result.to_json(), ca_file=ca, timeout=config.timeout, proxy=config.proxy
    )


# -- the service -----------------------------------------------------------------------------


class ServiceError(Exception):
    pass


@dataclass
class DrainResult:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (report_id, status)
    queued: int = 0
    error: str | None = None  # transient: the queue stays and is retried
    stopped: str | None = None  # 401/403: sending stopped until enrolled again
    need_full: bool = False


class Service:
    def __init__(
        self,
        config: AgentConfig,
        state_dir: Path,
        machine: Callable[[], Machine],
        *,
        server: str | None = None,
        ca_file: str | None = None,
        allow_http: bool = False,
    ):
        self.config = config
        self.state_dir = state_dir
        self.machine = machine
        self.server_override = server
        self.ca_override = ca_file
        self.allow_http = allow_http or config.allow_http
        self.spool = Spool(state_dir / "spool", config.spool_max_bytes, config.spool_max_age)
        self.spool.open()
        self.timetable: Timetable | None = None
        self._lock = threading.Lock()
        self._failures = 0

    # -- enrollment, collection ----------------------------------------------------------

    def enrollment(self) -> tuple[agent_state.AgentState, str, str | None]:
        """Re-read at every use: `enroll` may have run meanwhile."""
        return enrollment(
            self.config,
            self.state_dir,
            server=self.server_override,
            ca_file=self.ca_override,
            allow_http=self.allow_http,
        )

    def host_config(self, st: agent_state.AgentState) -> HostConfig:
        return HostConfig(
            site=self.config.site or st.site,
            role=self.config.role,
            tags=self.config.tags,
            agent_id=st.agent_id,
        )

    def collect_full(self) -> tuple[Report, list[str]]:
        st, _server, _ca = self.enrollment()
        machine = self.machine()
        # The patch state comes from its cache (agent.patch_cache): computed afresh only
        # when its sources changed (or four patch intervals after its computation).
        selection = Selection(skip=frozenset({*self.config.skip_probes, "patches"}))
        report = collect(machine, selection, self.host_config(st), self.config.probe_timeout)
        if report.host is not None and report.host.machine_id != st.machine_id:
            raise ServiceError(
                f"this machine's id changed since enrollment ({st.machine_id} -> "
                f"{report.host.machine_id}); enroll again"
            )
        if "patches" not in self.config.skip_probes:
            self._add_patches(report, machine, verify=True)
        return report, list(SECTIONS)

    def collect_light(self) -> tuple[Report, list[str]]:
        st, _server, _ca = self.enrollment()
        wanted = [s for s in LIGHT_SECTIONS if s not in self.config.skip_probes]
        machine = self.machine()
        report = collect(
            machine,
            Selection(only=frozenset(s for s in wanted if s != "patches")),
            self.host_config(st),
            self.config.probe_timeout,
        )
        if "patches" in wanted:
            # Between two patch refreshes the light reports carry the last refresh's state
            # (no fingerprint check: the refresh job does that); confirmed longer than a
            # patch interval ago, it is checked now (and computed if its sources changed).
            self._add_patches(report, machine, verify=False)
        return report, wanted

    def _patch_state(
        self, machine: Machine, *, verify: bool
    ) -> tuple[Patches | None, list[CollectionError]]:
        def compute() -> tuple[Patches | None, list[CollectionError]]:
            report = collect(
                machine, Selection(only=frozenset({"patches"})), None, self.config.probe_timeout
            )
            return report.patches, [e for e in report.collection.errors if e.probe == "patches"]

        patches, errors, reused = patch_cache.patch_state(
            machine, self.state_dir, self.config.patch_interval, compute, verify=verify
        )
        log.debug("patch state %s", "reused (sources unchanged)" if reused else "computed")
        return patches, errors

    def _add_patches(self, report: Report, machine: Machine, *, verify: bool) -> None:
        patches, errors = self._patch_state(machine, verify=verify)
        report.patches = patches
        report.collection.errors.extend(errors)

    def refresh_patches(self) -> None:
        if "patches" not in self.config.skip_probes:
            self._patch_state(self.machine(), verify=True)

    def discover_and_send(self) -> None:
        """One network discovery of the configured network, sent to the collector."""
        config = self.config
        assert config.discovery_interface is not None and config.discovery_cidr is not None
        result = discover.discover(
            config.discovery_interface, config.discovery_cidr, ports=config.discovery_ports
        )
        answer = send_discovery(
            result,
            config,
            self.state_dir,
            server=self.server_override,
            ca_file=self.ca_override,
            allow_http=self.allow_http,
        )
        log.info("discovery sent: %s device(s), %s new", answer.get("devices"), answer.get("new"))

    # -- cycles ------------------------------------------------------------------------

    def cycle(self, kind: Kind) -> DrainResult:
        """Collects a report of ``kind``, queues it durably, then drains the queue."""
        with self._lock:
            no_base = delta.load_base(self.state_dir) is None
            if kind == "light" and no_base and not self.spool.has_full():
                log.info("no full inventory acknowledged or queued yet: collecting one")
                kind = "full"
            report, sections = self.collect_full() if kind == "full" else self.collect_light()
            self.spool.put(kind, sections, to_data(report))
            log.info(
                "queued %s report %s (%d in the queue)", kind, report.report_id, len(self.spool)
            )
            return self._drain_locked()

    def drain(self) -> DrainResult:
        with self._lock:
            return self._drain_locked()

    def _drain_locked(self) -> DrainResult:
        result = DrainResult()
        try:
            st, server, ca = self.enrollment()
        except (agent_state.StateError, transport.TransportError) as exc:
            result.stopped = str(exc)
            result.queued = len(self.spool)
            return result
        fingerprint = agent_state.token_fingerprint(st.token)
        revoked = agent_state.load_status(self.state_dir).get("revoked")
        if isinstance(revoked, dict) and revoked.get("token") == fingerprint:
            result.stopped = (
                f"not sending: the collector refused this agent's token on {revoked.get('at')} "
                f"({revoked.get('message')}); enroll again"
            )
            result.queued = len(self.spool)
            return result
        for entry in self.spool.entries():
            envelope = self.spool.load(entry)
            if envelope is None:
                continue
            while True:  # at most twice: once as delta, once in full after a 409 need_full
                base = delta.load_base(self.state_dir)
                try:
                    body, current = delta.wire_body(envelope.report, envelope.sections, base)
                except delta.NoBase as exc:
                    self.spool.drop(entry, f"{exc}; a full inventory follows")
                    result.need_full = True
                    break
                report_id = str(envelope.report["report_id"])
                try:
                    answer = transport.send_report(
                        server,
                        st.token,
                        delta.encode(body),
                        ca_file=ca,
                        timeout=self.config.timeout,
                        attempts=self.config.send_attempts,
                        backoff_s=self.config.backoff,
                        proxy=self.config.proxy,
                    )
                except transport.TransportError as exc:
                    if exc.need_full and base is not None:
                        log.warning(
                            "collector lacks the base of delta %s: %s", report_id, exc.message
                        )
                        delta.clear_base(self.state_dir)
                        result.need_full = True
                        if envelope.kind == "full":
                            continue  # resend this very report in full
                        self.spool.drop(entry, "its base is unknown to the collector")
                        break
                    if exc.status in (401, 403):
                        message = (
                            f"sending stopped: the collector refused this agent "
                            f"({exc.message}); enroll again"
                        )
                        log.error("%s", message)
                        agent_state.update_status(
                            self.state_dir,
                            revoked={
                                "at": agent_state.now_iso(),
                                "message": exc.message,
                                "token": fingerprint,
                            },
                            last_error={"at": agent_state.now_iso(), "message": message},
                        )
                        result.stopped = message
                        result.queued = len(self.spool)
                        return result
                    if exc.status is not None and 400 <= exc.status < 500 and not exc.retryable:
                        log.error("report %s refused: %s", report_id, exc.message)
                        self.spool.reject(entry, exc.message)
                        agent_state.update_status(
                            self.state_dir,
                            last_error={"at": agent_state.now_iso(), "message": exc.message},
                        )
                        break
                    log.warning(
                        "sending failed, %d report(s) stay queued: %s", len(self.spool), exc.message
                    )
                    agent_state.update_status(
                        self.state_dir,
                        last_error={"at": agent_state.now_iso(), "message": exc.message},
                    )
                    result.error = exc.message
                    result.queued = len(self.spool)
                    return result
                sent_delta = body.get("delta")
                hashes = sent_delta["section_hashes"] if isinstance(sent_delta, dict) else {}
                delta.save_base(self.state_dir, delta.Base(report_id, current, hashes))
                self.spool.remove(entry)
                status = str(answer.get("status", "sent"))
                result.sent.append((report_id, status))
                fields: dict[str, Any] = {
                    "last_success": {
                        "at": agent_state.now_iso(),
                        "report_id": report_id,
                        "status": status,
                        "kind": envelope.kind,
                        "delta": body.get("delta") is not None,
                    }
                }
                if envelope.kind == "full":
                    fields["last_full_at"] = agent_state.now_iso()
                agent_state.update_status(self.state_dir, **fields)
                log.info(
                    "report %s (%s%s): %s",
                    report_id,
                    envelope.kind,
                    ", delta" if body.get("delta") else "",
                    status,
                )
                break
        result.queued = len(self.spool)
        return result

    # -- scheduled jobs ----------------------------------------------------------------

    def _job(self, name: str, fn: Callable[[], DrainResult | None]) -> None:
        try:
            if name in FORKED_JOBS and forked.AVAILABLE:
                self._run_job(name, lambda: self._in_child(fn))
            else:
                self._run_job(name, fn)
        finally:
            # The service sleeps until the next job: it keeps no report, gives back the heap.
            delta.forget_base()
            memory.release()

    def _in_child(self, fn: Callable[[], DrainResult | None]) -> DrainResult | None:
        """``fn`` in a forked child; the spool as the child left it."""
        try:
            answer = forked.run(lambda: _drain_data(fn()), CHILD_DEADLINE_S)
        finally:
            self.spool.open()  # the child queued, sent and removed reports
        if answer is None:
            return None
        answer["sent"] = [(str(report_id), str(status)) for report_id, status in answer["sent"]]
        return DrainResult(**answer)

    def _run_job(self, name: str, fn: Callable[[], DrainResult | None]) -> None:
        try:
            result = fn()
        except forked.ChildStopped:
            log.info("job %s stopped with the service", name)
            return
        except Exception as exc:  # a job must never take the timetable down
            log.exception("job %s failed: %s", name, exc)
            agent_state.update_status(
                self.state_dir,
                last_error={"at": agent_state.now_iso(), "message": f"{name}: {exc}"},
            )
            return
        if result is None:
            return
        if result.stopped:
            log.error("%s", result.stopped)
        if result.error:
            self._schedule_retry()
        else:
            self._failures = 0
        if result.need_full and self.timetable is not None:
            self.timetable.once("full-now", time.time(), self.job_full)

    def _schedule_retry(self) -> None:
        self._failures += 1
        base = max(self.config.backoff, 1.0) * 15
        delay = min(MAX_RETRY_DELAY_S, base * 2 ** (self._failures - 1))
        delay *= random.uniform(0.5, 1.5)
        log.info("next attempt to send the queue in %.0f s", delay)
        if self.timetable is not None:
            self.timetable.once("retry", time.time() + delay, self.job_retry)

    def job_full(self) -> None:
        self._job("full", lambda: self.cycle("full"))

    def job_status(self) -> None:
        self._job("status", lambda: self.cycle("light"))

    def job_patches(self) -> None:
        self._job("patches", self.refresh_patches)

    def job_retry(self) -> None:
        self._job("retry", self.drain)

    def job_discovery(self) -> None:
        # Logged only: a failed sweep is no failed report, so the status stays as it is.
        try:
            if forked.AVAILABLE:  # scapy and the sweep's memory leave with the child
                forked.run(self._discover_logged, CHILD_DEADLINE_S)
            else:
                self._discover_logged()
        except Exception as exc:  # a job must never take the timetable down
            log.exception("discovery failed: %s", exc)
        finally:
            memory.release()

    def _discover_logged(self) -> None:
        try:
            self.discover_and_send()
        except discover.DiscoveryError as exc:
            log.error("discovery: %s", exc.message)

    def build_timetable(
        self, now: dt.datetime | None = None, rng: random.Random | None = None
    ) -> Timetable:
        now = now or dt.datetime.now(dt.UTC)
        rng = rng or random.Random()
        status = agent_state.load_status(self.state_dir)
        last_full = _parse_time(status.get("last_full_at"))
        plans = plan_jobs(
            self.config,
            now,
            rng,
            has_base=delta.load_base(self.state_dir) is not None,
            last_full_at=last_full,
        )
        timetable = Timetable(rng)
        jobs = {
            "full": self.job_full,
            "status": self.job_status,
            "patches": self.job_patches,
            "discovery": self.job_discovery,
        }
        for plan in plans:
            timetable.every(
                plan.name, plan.slots(), jobs[plan.name], plan.first_fire(rng).timestamp()
            )
            log.info(
                "job %s: every %g s, first run after %s (+ up to %g s jitter)",
                plan.name,
                plan.interval_s,
                plan.first_run.isoformat(timespec="seconds"),
                plan.jitter_s,
            )
        if discovery_configured(self.config):
            log.info(
                "job discovery: on %s %s",
                self.config.discovery_interface,
                self.config.discovery_cidr,
            )
        # What an earlier run left queued goes out with the first report (within the splay
        # window, not all devices at once after an outage).
        self.timetable = timetable
        return timetable


def _drain_data(result: DrainResult | None) -> dict[str, Any] | None:
    """A job's result as JSON data (what a forked child hands back)."""
    return None if result is None else dataclasses.asdict(result)


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
