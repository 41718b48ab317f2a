"""The agent's configuration: ``/etc/inventar/agent.toml`` (TOML, flat keys), overridden by
environment variables ``INVENTAR_AGENT_<KEY>`` (e.g. ``INVENTAR_AGENT_SERVER``), validated
into frozen settings. An invalid value stops the agent at start with a message that names
the key and where it came from. ``deploy/agent.toml.example`` documents every key.

Validated with msgspec, not pydantic: the agent service stays resident between jobs and
pydantic alone would cost it 12-17 MiB. msgspec has no "before" validators and stops at the
first error, so each key is first prepared (durations, sizes, comma lists, pydantic's lax
number and boolean texts) and checked on its own - every problem is reported at once.
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, get_args, get_type_hints

import msgspec
import msgspec.structs

from agent.discover import DEFAULT_PORTS, DiscoveryError, check_network
from agent.schema import SECTIONS, Role

DEFAULT_CONFIG = Path("/etc/inventar/agent.toml")
ENV_PREFIX = "INVENTAR_AGENT_"
CONFIG_ENV = "INVENTAR_AGENT_CONFIG"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2}
_SIZE_UNITS |= {"g": 1024**3, "gib": 1024**3}
# The texts pydantic accepted for a boolean (case-insensitive): INVENTAR_AGENT_ALLOW_HTTP=yes
# must keep working; msgspec alone knows only true/false/1/0.
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
# pydantic's lax integer text: sign, digits (with _), an optional all-zero fraction ("3.0").
_INTEGER = re.compile(r"([+-]?\d[\d_]*)(?:\.0*)?")


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


def _boolean(value: Any) -> Any:
    """pydantic's lax booleans; anything else is left for msgspec to refuse."""
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    if isinstance(value, float) and value in (0.0, 1.0):
        return value == 1.0
    return value


def _integer(value: Any) -> Any:
    """pydantic's lax integers (" 3 ", "+3", "3.0", 3.0, True). A text is settled here:
    msgspec's own lax parsing would also take "1e1", which pydantic refused."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _INTEGER.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"{value!r} is not a whole number")
        return int(match.group(1))
    return value


def _ports(value: Any) -> Any:
    value = _comma_list(value)
    if isinstance(value, list | tuple):
        return [_integer(port) for port in value]
    return value


Text = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]  # a site name, a tag
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Interface = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Interval = Annotated[float, msgspec.Meta(ge=1, le=30 * 86400)]


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every key, its default and its check. Durations in seconds or as ``15m``/``6h``.

    Build it with ``load_config`` or ``with_overrides``: the constructor itself runs only the
    checks in ``__post_init__``, not the types and limits (those are msgspec.convert's)."""

    # where to send
    server: str | None = None  # default: the URL the agent enrolled with
    ca_file: Path | None = None  # CA bundle (PEM); default: the system's trust store
    proxy: str | None = None  # http://proxy:3128; default: https_proxy from the environment
    allow_http: bool = False  # plain http past loopback: testing only
    timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
    send_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    backoff: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 2.0
    # what the report says about the host (never guessed by probes)
    site: Text | None = None
    role: Role | None = None
    tags: Annotated[tuple[Text, ...], msgspec.Meta(max_length=64)] = ()
    skip_probes: tuple[str, ...] = ()
    probe_timeout: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    # when
    full_interval: Interval = 6 * 3600.0
    status_interval: Interval = 15 * 60.0
    patch_interval: Interval = 6 * 3600.0
    splay: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 5 * 60.0
    # where to keep state, and how much to queue while the collector is unreachable
    state_dir: Path | None = None
    spool_max_bytes: Annotated[int, msgspec.Meta(ge=64 * 1024, le=2**40)] = 64 * 1024 * 1024
    spool_max_age: Annotated[float, msgspec.Meta(ge=60, le=365 * 86400)] = 30 * 86400.0
    # network discovery (`inventar-agent discover`) on a schedule: only where both interface
    # and cidr are set; needs CAP_NET_RAW
    discovery_interface: Interface | None = None
    discovery_cidr: str | None = None
    discovery_interval: Annotated[float, msgspec.Meta(ge=0, le=30 * 86400)] = 86400.0
    discovery_ports: Annotated[tuple[Port, ...], msgspec.Meta(max_length=64)] = DEFAULT_PORTS

    def __post_init__(self) -> None:
        # The checks msgspec.Meta cannot express; a ValueError here becomes msgspec's
        # ValidationError in msgspec.convert. Each is a no-op on its default, so a key
        # converted on its own (see _key_problem) fails only on its own check.
        _check_url(self.server)
        _check_url(self.proxy)
        _check_file(self.ca_file)
        _check_probes(self.skip_probes)
        if self.discovery_cidr is not None:
            # stored normalized ("198.18.0.9/24" -> "198.18.0.0/24"), as before
            msgspec.structs.force_setattr(self, "discovery_cidr", _network(self.discovery_cidr))


KEYS: tuple[str, ...] = AgentConfig.__struct_fields__

# Per key, what pydantic's BeforeValidators and lax mode did before the type check.
_PREPARE: dict[str, Callable[[Any], Any]] = {
    "allow_http": _boolean,
    "send_attempts": _integer,
    "spool_max_bytes": parse_size,
    "tags": _comma_list,
    "skip_probes": _comma_list,
    "discovery_ports": _ports,
}
# Every float key is a duration (seconds, or a text such as "15m").
_PREPARE |= {
    key: parse_duration for key, kind in get_type_hints(AgentConfig).items() if kind is float
}
# Keys whose message lists the allowed values (msgspec says only "Invalid enum value").
_CHOICES: dict[str, tuple[str, ...]] = {"role": get_args(Role)}


def _check_url(value: str | None) -> None:
    if value is None:
        return
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{value!r} is not an http(s):// URL")


def _check_file(value: Path | None) -> None:
    if value is not None and not value.is_file():
        raise ValueError(f"{value} is not a file")


def _check_probes(value: tuple[str, ...]) -> None:
    unknown = sorted(set(value) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if "host" in value:
        raise ValueError("the host probe cannot be skipped (it identifies the machine)")


def _network(value: str) -> str:
    try:
        return str(check_network(value))
    except DiscoveryError as exc:
        raise ValueError(exc.message) from None


def _path(kind: type, value: Any) -> Any:
    """msgspec's hook for the types it does not know itself: here only Path."""
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise TypeError(f"Expected a path, got {type(value).__name__}")


def _convert(data: Mapping[str, Any]) -> AgentConfig:
    # strict=False: the environment gives texts, also for numbers ("3") and booleans
    prepared = {key: _PREPARE.get(key, _same)(value) for key, value in data.items()}
    return msgspec.convert(prepared, AgentConfig, strict=False, dec_hook=_path)


def _same(value: Any) -> Any:
    return value


def _readable(key: str, message: str) -> str:
    """msgspec's message without its ``- at `$.key``` (the origin names the key already)."""
    text, _, where = message.partition(" - at `$.")
    rest = where.removeprefix(key).rstrip("`")
    if rest:
        text += f" (item {rest})"
    if key in _CHOICES and text.startswith("Invalid enum value"):
        text += f"; one of {', '.join(_CHOICES[key])}"
    return text


def _key_problem(key: str, value: Any) -> str | None:
    """The problem with one key checked alone (every other key at its default), or None."""
    try:
        _convert({key: value})
    except msgspec.ValidationError as exc:
        return _readable(key, str(exc))
    except ValueError as exc:  # from a preparation (parse_duration, parse_size)
        return str(exc)
    return None


def _problems(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    # pydantic's order: the keys in declaration order, then the unknown ones
    for key in KEYS:
        if key in data and (problem := _key_problem(key, data[key])) is not None:
            yield key, problem
    for key in data:
        if key not in KEYS:
            yield key, f"unknown key; known keys: {', '.join(KEYS)}"


def _validate(data: Mapping[str, Any], origin: Mapping[str, str], heading: str) -> AgentConfig:
    """The settings, or a ConfigError naming every invalid key and where it came from."""
    problems = [f"{origin.get(key, f'key {key!r}')}: {msg}" for key, msg in _problems(data)]
    if not problems:
        try:
            return _convert(data)
        except ValueError as exc:  # a check across keys; none today
            problems.append(str(exc))
    raise ConfigError(heading + "; ".join(problems))


def with_overrides(config: AgentConfig, overrides: Mapping[str, Any]) -> AgentConfig:
    """``config`` with some keys replaced (command-line options), validated like the file."""
    data = {**msgspec.structs.asdict(config), **overrides}
    return _validate(data, {key: key for key in overrides}, "invalid option: ")


def _env_values(env: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name in KEYS:
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
    return _validate(data, origin, "invalid configuration: "), used
