"""The one way commands run: argv in, exit code and output out.

Every probe runs commands through a :class:`Runner`, so the same parsers work on output
produced here, replayed from a support bundle, or fetched over SSH by the collector.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_TIMEOUT_S = 20.0
# A command's output beyond this is cut: no parser needs more, and memory stays bounded.
MAX_OUTPUT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class CommandResult:
    """What a command did. ``exit_code`` is None when it never ran to completion."""

    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    # "not-found", "permission-denied", "timeout" or another reason it did not complete.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        """A one-line account of a failure, for ``collection.errors``."""
        # A long argument (an encoded PowerShell script) is shortened: the message names the
        # command, it does not repeat it.
        cmd = " ".join(a if len(a) <= 120 else f"{a[:40]}…({len(a)} characters)" for a in self.argv)
        if self.error:
            return f"{cmd}: {self.error}"
        detail = (self.stderr.strip() or self.stdout.strip()).splitlines()
        last = detail[-1][:300] if detail else "no output"
        return f"{cmd}: exit code {self.exit_code}: {last}"


class Runner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult: ...


def _decode(data: bytes) -> str:
    return data[:MAX_OUTPUT_BYTES].decode("utf-8", errors="replace")


def _on_path(name: str, path: str | None) -> bool:
    if sys.platform.startswith("win"):
        return True  # PATHEXT and App Paths: left to CreateProcess
    return shutil.which(name, path=path if path is not None else os.defpath) is not None


@dataclass
class LocalRunner:
    """Runs commands on this machine, without a shell.

    ``LC_ALL=C`` by default on Linux and macOS so that output is the parsers' language;
    Windows output stays localized (its parsers know German and English).
    """

    base_env: Mapping[str, str] = field(default_factory=lambda: {"LC_ALL": "C", "LANG": "C"})

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        args = tuple(argv)
        full_env = {**os.environ, **self.base_env, **(env or {})}
        # A tool that is not installed (the probes try several: ufw, firewalld, iptables,
        # nmcli) is found missing by a look along PATH, without starting a process.
        if args and "/" not in args[0] and not _on_path(args[0], full_env.get("PATH")):
            return CommandResult(args, None, error="not-found")
        try:
            proc = subprocess.run(
                args,
                capture_output=True,
                timeout=timeout,
                env=full_env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            return CommandResult(args, None, error="not-found")
        except PermissionError:
            return CommandResult(args, None, error="permission-denied")
        except subprocess.TimeoutExpired:
            return CommandResult(args, None, error=f"timeout after {timeout:g} s")
        except OSError as exc:
            return CommandResult(args, None, error=f"cannot run: {exc.strerror or exc}")
        return CommandResult(args, proc.returncode, _decode(proc.stdout), _decode(proc.stderr))
