"""Answers of commands that depend only on a few files, kept in the service's memory.

A light report every 15 minutes runs the security probe, and with it ``sshd -T`` (about
12 ms of CPU, a tenth of the light report's cost), whose answer changes only when sshd's
configuration or binary does. :func:`run_cached` keeps a successful answer together with a
fingerprint (size and modification time) of the files it depends on and gives it back while
they are unchanged and the answer is younger than ``max_age_s``; the age limit bounds what
a fingerprint cannot see (a file included from an unusual place).

The same for ``lsblk`` (disk encryption per mount, about 5 ms of CPU in every light report):
its answer is kept while the mount table and the block devices stay as they are.

Only commands run live on this machine (:class:`agent.runner.LocalRunner` over
:class:`agent.files.RootedFiles`) are kept; recorded, replayed and test machines always run.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from agent.context import ProbeContext
from agent.files import RootedFiles
from agent.runner import CommandResult, LocalRunner

_lock = threading.Lock()
# (root, argv) -> (fingerprint, monotonic time of the run, result)
_answers: dict[tuple[str, tuple[str, ...]], tuple[tuple[object, ...], float, CommandResult]] = {}


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def fingerprint(
    files: RootedFiles, paths: Sequence[str], contents: Sequence[str] = ()
) -> tuple[object, ...]:
    """Size and time of each path; of a directory, also of each entry in it; the content of
    each of ``contents`` (files whose size and time say nothing: /proc/self/mountinfo)."""
    parts: list[object] = []
    for name in contents:
        try:
            parts.append((name, hashlib.blake2b(files.read_bytes(name)).digest()))
        except OSError:
            parts.append((name, None))
    for name in paths:
        path = files.resolve(name)
        parts.append((name, _stat(path)))
        if path.is_dir():
            try:
                entries = sorted(path.iterdir())
            except OSError:
                continue
            parts.extend((str(entry), _stat(entry)) for entry in entries)
    return tuple(parts)


def run_cached(
    ctx: ProbeContext,
    argv: Sequence[str],
    depends_on: Sequence[str],
    max_age_s: float,
    timeout: float,
    *,
    contents: Sequence[str] = (),
) -> CommandResult:
    files, runner = ctx.files, ctx.machine.runner
    if not isinstance(files, RootedFiles) or not isinstance(runner, LocalRunner):
        return ctx.run(argv, timeout=timeout)
    key = (files.rootfs, tuple(argv))
    current = fingerprint(files, depends_on, contents)
    now = time.monotonic()
    with _lock:
        kept = _answers.get(key)
    if kept is not None and kept[0] == current and 0 <= now - kept[1] < max_age_s:
        return kept[2]
    result = ctx.run(argv, timeout=timeout)
    with _lock:
        if result.ok:
            _answers[key] = (current, now, result)
        else:  # a failure is asked again next time
            _answers.pop(key, None)
    return result


def clear() -> None:
    with _lock:
        _answers.clear()
