"""Runs the probes under timeouts and assembles the report; errors are recorded, not raised."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from agent import __version__
from agent.context import ErrorLog, Machine, ProbeContext
from agent.probes import probe_for
from agent.schema import (
    SCHEMA_VERSION,
    SECTIONS,
    AgentInfo,
    Collection,
    CollectionError,
    Report,
    SchemaError,
    validated_section,
)

log = logging.getLogger(__name__)

DEFAULT_PROBE_TIMEOUT_S = 60.0
# Probes mostly wait on commands and files; a few threads overlap that waiting.
PARALLEL_PROBES = 4


@dataclass(frozen=True)
class HostConfig:
    """What the agent's configuration says about the host; never guessed by probes."""

    site: str | None = None
    role: str | None = None
    tags: tuple[str, ...] = ()
    agent_id: str | None = None


@dataclass(frozen=True)
class Selection:
    only: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = (self.only | self.skip) - set(SECTIONS)
        if unknown:
            raise ValueError(
                f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}"
            )

    def sections(self) -> list[str]:
        chosen = [s for s in SECTIONS if not self.only or s in self.only]
        return [s for s in chosen if s not in self.skip]


@dataclass
class _Run:
    machine: Machine
    errors: ErrorLog = field(default_factory=ErrorLog)

    def probe(self, section: str) -> Any:
        try:
            fn = probe_for(section, self.machine.platform)
            if fn is None:
                self.errors.add(section, f"no {section} probe for {self.machine.platform}")
                return None
            # Checked here, as the collector will check it: a value out of the contract
            # costs this section (with the reason), not the whole report.
            return validated_section(section, fn(ProbeContext(self.machine, section, self.errors)))
        except SchemaError as exc:
            log.error("probe %s returned data outside the report contract: %s", section, exc)
            self.errors.add(section, f"internal error: outside the report contract: {exc}")
            return None
        except OSError as exc:  # the machine could not be read (an SSH connection lost)
            self.errors.add(section, f"cannot read the machine: {exc}")
            return None
        except Exception as exc:  # a probe bug must cost one section, not the report
            log.exception("probe %s failed", section)
            self.errors.add(section, f"internal error: {type(exc).__name__}: {exc}")
            return None


def collect(
    machine: Machine,
    selection: Selection | None = None,
    host_config: HostConfig | None = None,
    probe_timeout_s: float = DEFAULT_PROBE_TIMEOUT_S,
) -> Report:
    selection = selection or Selection()
    host_config = host_config or HostConfig()
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    run = _Run(machine)
    refused_before = len(machine.refusals)
    sections = selection.sections()
    results: dict[str, Any] = {}
    pool = ThreadPoolExecutor(max_workers=PARALLEL_PROBES, thread_name_prefix="probe")
    try:
        futures: dict[str, Future[Any]] = {s: pool.submit(run.probe, s) for s in sections}
        deadline = time.monotonic() + probe_timeout_s
        for section, future in futures.items():
            try:
                results[section] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                run.errors.add(section, f"probe timed out after {probe_timeout_s:g} s")
                results[section] = None
    finally:
        # A hung probe thread is abandoned, not waited for; its commands have own timeouts.
        pool.shutdown(wait=False, cancel_futures=True)
    _apply_host_config(results, host_config)
    for message in machine.refusals[refused_before:]:
        run.errors.add("files", message)
    return Report(
        schema_version=SCHEMA_VERSION,
        report_id=uuid.uuid4(),
        collected_at=dt.datetime.now(dt.UTC),
        agent=AgentInfo(id=host_config.agent_id, version=__version__),
        **results,
        collection=Collection(
            started_at=started,
            duration_ms=int((time.monotonic() - t0) * 1000),
            errors=[CollectionError(probe=p, message=m) for p, m in run.errors.entries],
        ),
    )


def _apply_host_config(results: dict[str, Any], config: HostConfig) -> None:
    host = results.get("host")
    if host is None:
        return
    host.site = config.site
    host.role = config.role
    host.tags = list(config.tags)


def sections_of(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.strip() for n in names if n.strip())
