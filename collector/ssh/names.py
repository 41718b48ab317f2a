"""How SSH targets and jump hosts are named (pure; no paramiko): ``[host]:port`` as
known_hosts and OpenSSH write it, ``user@host[:port]`` as ProxyJump takes it."""

from __future__ import annotations


def host_label(host: str, port: int) -> str:
    """The host's name in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def parse_jump(text: str) -> tuple[str, str, int]:
    """``user@host[:port]`` (``user@[v6]:port`` for IPv6) -> (user, host, port); ValueError."""
    user, at, rest = text.partition("@")
    if not at or not user or not rest:
        raise ValueError(f"jump host {text!r}: expected user@host[:port]")
    host, port = rest, 22
    if rest.startswith("["):
        inner, bracket, after = rest[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"jump host {text!r}: expected user@[address]:port")
        host, after = inner, after[1:]
        if after:
            port = _port(after, text)
    elif rest.count(":") == 1:
        host, _, number = rest.partition(":")
        port = _port(number, text)
    if not host:
        raise ValueError(f"jump host {text!r}: no host")
    return user, host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"jump host {whole!r}: invalid port {text!r}")
    return int(text)
