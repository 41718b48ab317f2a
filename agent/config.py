"""The agent's configuration: ``/etc/inventar/agent.toml`` (TOML, flat keys), overridden by
environment variables ``INVENTAR_AGENT_<KEY>`` (e.g. ``INVENTAR_AGENT_SERVER``), validated
into frozen settings. An invalid value stops the agent at start with a message that names
the key and where it came from. ``deploy/agent.toml.example`` documents every key.
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from agent.discover import DEFAULT_PORTS, DiscoveryError, check_network
from agent.schema import SECTIONS, Role

DEFAULT_CONFIG = Path("/etc/inventar/agent.toml")
ENV_PREFIX = "INVENTAR_AGENT_"
CONFIG_ENV = "INVENTAR_AGENT_CONFIG"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2}
_SIZE_UNITS |= {"g": 1024**3, "gib": 1024**3}


class ConfigError(Exception):
    pass


def parse_duration(value: Any) -> Any:
    """Seconds as a number, or a text such as ``90s``, ``15m``, ``6h``, ``1d``, ``1h30m``."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return float(text)
        except ValueError:
            pass
        parts = _DURATION.findall(text)
        if not parts or _DURATION.sub("", text).strip():
            raise ValueError(f"{value!r} is not a duration such as 900, 90s, 15m, 6h or 1d")
        return float(sum(float(n) * _UNITS[u] for n, u in parts))
    return value


def parse_size(value: Any) -> Any:
    """Bytes as a number, or a text such as ``64MiB``, ``500k``, ``1G``."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", value)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _SIZE_UNITS:
            raise ValueError(f"{value!r} is not a size such as 67108864, 64MiB or 500k")
        return int(match.group(1)) * _SIZE_UNITS[unit]
    return value


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Tag = Annotated[str, Field(min_length=1, max_length=256)]


class AgentConfig(BaseModel):
    """Every key, its default and its check. Durations in seconds or as ``15m``/``6h``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # where to send
    server: str | None = None  # default: the URL the agent enrolled with
    ca_file: Path | None = None  # CA bundle (PEM); default: the system's trust store
    proxy: str | None = None  # http://proxy:3128; default: https_proxy from the environment
    allow_http: bool = False  # plain http past loopback: testing only
    timeout: Annotated[Duration, Field(gt=0, le=600)] = 30.0
    send_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    backoff: Annotated[Duration, Field(ge=0, le=3600)] = 2.0
    # what the report says about the host (never guessed by probes)
    site: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    role: Role | None = None
    tags: Annotated[tuple[Tag, ...], BeforeValidator(_comma_list), Field(max_length=64)] = ()
    skip_probes: Annotated[tuple[str, ...], BeforeValidator(_comma_list)] = ()
    probe_timeout: Annotated[Duration, Field(gt=0, le=3600)] = 60.0
    # when
    full_interval: Annotated[Duration, Field(ge=1, le=30 * 86400)] = 6 * 3600.0
    status_interval: Annotated[Duration, Field(ge=1, le=30 * 86400)] = 15 * 60.0
    patch_interval: Annotated[Duration, Field(ge=1, le=30 * 86400)] = 6 * 3600.0
    splay: Annotated[Duration, Field(ge=0, le=86400)] = 5 * 60.0
    # where to keep state, and how much to queue while the collector is unreachable
    state_dir: Path | None = None
    spool_max_bytes: Annotated[Size, Field(ge=64 * 1024, le=2**40)] = 64 * 1024 * 1024
    spool_max_age: Annotated[Duration, Field(ge=60, le=365 * 86400)] = 30 * 86400.0
    # network discovery (`inventar-agent discover`) on a schedule: only where both interface
    # and cidr are set; needs CAP_NET_RAW
    discovery_interface: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    discovery_cidr: str | None = None
    discovery_interval: Annotated[Duration, Field(ge=0, le=30 * 86400)] = 86400.0
    discovery_ports: Annotated[
        tuple[Annotated[int, Field(ge=1, le=65535)], ...],
        BeforeValidator(_comma_list),
        Field(max_length=64),
    ] = DEFAULT_PORTS

    @field_validator("discovery_cidr")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(check_network(value))
        except DiscoveryError as exc:
            raise ValueError(exc.message) from None

    @field_validator("skip_probes")
    @classmethod
    def _known_sections(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(SECTIONS))
        if unknown:
            raise ValueError(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
        if "host" in value:
            raise ValueError("the host probe cannot be skipped (it identifies the machine)")
        return value

    @field_validator("server", "proxy")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urllib.parse.urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{value!r} is not an http(s):// URL")
        return value

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value


def _env_values(env: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name in AgentConfig.model_fields:
        key = ENV_PREFIX + name.upper()
        if key in env:
            out[name] = env[key]
    return out


def load_config(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[AgentConfig, Path | None]:
    """Reads the TOML file (``path``, else $INVENTAR_AGENT_CONFIG, else the default path if it
    exists), applies the environment, validates. Returns the settings and the file read."""
    env = os.environ if env is None else env
    explicit = path is not None or CONFIG_ENV in env
    if path is None:
        path = Path(env[CONFIG_ENV]) if CONFIG_ENV in env else DEFAULT_CONFIG
    data: dict[str, Any] = {}
    used: Path | None = None
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
        used = path
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"configuration file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    origin = {key: f"key {key!r} in {path}" for key in data}
    for key, value in _env_values(env).items():
        data[key] = value
        origin[key] = ENV_PREFIX + key.upper()
    try:
        return AgentConfig.model_validate(data), used
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            key = str(error["loc"][0]) if error["loc"] else "?"
            where = origin.get(key, f"key {key!r}")
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = f"unknown key; known keys: {', '.join(AgentConfig.model_fields)}"
            problems.append(f"{where}: {message}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
