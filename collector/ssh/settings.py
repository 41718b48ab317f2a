"""Settings of SSH collection: environment variables ``INVENTAR_SSH_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SshSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTAR_SSH_", extra="ignore")

    # Seconds between scheduled collections inside `serve`; 0 turns the schedule off (e.g. on
    # every replica but one).
    interval: float = Field(default=3600.0, ge=0)
    # The first scheduled run, seconds after the start.
    first_delay: float = Field(default=30.0, ge=0)
    # SSH sessions at the same time; a host beyond waits for a free slot.
    parallel: int = Field(default=8, ge=1, le=256)
    # A host's whole collection (connect, authenticate, every probe) must end within this.
    timeout: float = Field(default=300.0, gt=0)
    # TCP connect, SSH banner and authentication, each.
    connect_timeout: float = Field(default=15.0, gt=0)
    # Per probe, as the agent's probe_timeout.
    probe_timeout: float = Field(default=60.0, gt=0)
    # known_hosts of targets that name none of their own.
    known_hosts: Path = Path("var") / "ssh_known_hosts"
