"""The patch state, computed only when its sources changed.

Asking apt, dnf or zypper for pending updates is the agent's most expensive fact (apt builds
its package cache from every list: about a second of CPU on an old PC), yet its answer
depends on a few files that change a few times a day: the installed packages (dpkg's status,
rpm's database), the repositories' lists, the sources and pins. The patch state is therefore
kept in the state directory (``patches.json``) with a *fingerprint* of those files (path,
size and modification time of each) and reused while the fingerprint is unchanged: an
``apt update`` (new lists), an installed, upgraded or removed package, a changed source or
pin, a removed list, a reboot (boot id), all change it, and the next run computes afresh.

Freshness promise, with the patch interval (``patch_interval``, 6 h by default):

- the patch state a report carries was *confirmed* at most one patch interval ago: its
  fingerprint was compared with the files then (the patches job and every full inventory
  do that; a light report finding the last confirmation older does it itself);
- it was *computed* at most :data:`RECOMPUTE_INTERVALS` patch intervals ago (24 h by
  default): past that it is computed afresh even with an unchanged fingerprint, so that
  what file times cannot show (dnf refreshing expired metadata by itself, a clock set
  back, a file rewritten within the same nanosecond with the same size) cannot keep an old
  answer for longer than a day.

Only machines read through a file tree (:class:`agent.files.RootedFiles`: the live machine,
``collect --rootfs``) are fingerprinted; a replayed support bundle is always computed, and
so are Windows and macOS (not fingerprinted yet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.context import Machine
from agent.files import RootedFiles
from agent.schema import CollectionError, Patches, convert, to_data
from agent.state import atomic_write

CACHE_FILE = "patches.json"
# A change of the stored layout (or of what the fingerprint covers) makes old files unused.
FORMAT = 2
# Computed afresh after this many patch intervals even when nothing changed (6 h -> 24 h).
RECOMPUTE_INTERVALS = 4

BOOT_ID = "/proc/sys/kernel/random/boot_id"

# What each package manager's answer depends on: single files, and directories whose every
# entry counts (an added or removed entry changes the directory too). Log files count since
# the probe reads the last installation from them; /run/reboot-required and the boot id
# since the probe reports whether a reboot is needed.
APT_FILES = (
    "/var/lib/dpkg/status",
    "/etc/apt/sources.list",
    "/etc/apt/preferences",
    "/etc/apt/apt.conf",
    "/var/lib/apt/periodic/update-success-stamp",
    "/var/lib/dpkg/info/unattended-upgrades.list",
    "/var/log/apt/history.log",
    "/var/log/dpkg.log",
    "/run/reboot-required",
    "/etc/localtime",
)
APT_DIRS = (
    "/var/lib/apt/lists",
    "/etc/apt/sources.list.d",
    "/etc/apt/preferences.d",
    "/etc/apt/apt.conf.d",
)
RPM_FILES = (
    "/etc/dnf/dnf.conf",
    "/etc/dnf/automatic.conf",
    "/etc/dnf/dnf5-plugins/automatic.conf",
    "/var/cache/dnf/last_makecache",
    "/etc/zypp/zypp.conf",
    "/etc/zypp/locks",
)
RPM_DIRS = (
    "/var/lib/rpm",
    "/usr/lib/sysimage/rpm",
    "/etc/yum.repos.d",
    "/etc/dnf/vars",
    "/var/cache/dnf",
    "/etc/zypp/repos.d",
    "/var/cache/zypp/solv",
    "/etc/systemd/system/timers.target.wants",
)


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    computed_at: dt.datetime
    verified_at: dt.datetime  # the last time the fingerprint was found unchanged (or made)
    patches: Patches | None
    errors: list[CollectionError]


def _stat_entry(path: Path) -> list[int]:
    """[size, mtime in ns]; [-1, -1] for an absent or unreadable file (also a state)."""
    try:
        st = path.stat()
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


def _dir_entries(files: RootedFiles, directory: str) -> dict[str, list[int]]:
    """The directory's own entry and each of its entries (one level; a repository's cache
    directory's own time changes when files are added or removed inside it)."""
    base = files.resolve(directory)
    entries = {directory: _stat_entry(base)}
    try:
        names = sorted(p.name for p in base.iterdir())
    except OSError:
        return entries
    for name in names:
        if name in ("lock", "partial"):  # apt's lock file and download area: no content
            continue
        path = base / name
        entries[f"{directory}/{name}"] = _stat_entry(path)
        try:
            is_dir = stat.S_ISDIR(path.stat().st_mode)
        except OSError:
            is_dir = False
        if is_dir:  # /var/cache/zypp/solv/<repo>/solv, /var/cache/dnf/<repo>/repodata
            try:
                inner = sorted(p.name for p in path.iterdir())
            except OSError:
                continue
            for sub in inner:
                entries[f"{directory}/{name}/{sub}"] = _stat_entry(path / sub)
    return entries


def fingerprint(machine: Machine) -> str | None:
    """A digest of everything the patch state depends on; None where it is not known (not
    a file tree, not Linux), so that the state is always computed."""
    files = machine.files
    if machine.platform != "linux" or not isinstance(files, RootedFiles):
        return None
    single: tuple[str, ...]
    dirs: tuple[str, ...]
    if files.exists("/var/lib/dpkg/status") or files.exists("/usr/bin/apt"):
        manager, single, dirs = "apt", APT_FILES, APT_DIRS
    elif files.exists("/usr/bin/dnf") or files.exists("/usr/bin/zypper"):
        manager, single, dirs = "rpm", RPM_FILES, RPM_DIRS
    else:
        return None
    state: dict[str, Any] = {"manager": manager}
    for path in single:
        state[path] = _stat_entry(files.resolve(path))
    for directory in dirs:
        state.update(_dir_entries(files, directory))
    try:
        state[BOOT_ID] = files.resolve(BOOT_ID).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        state[BOOT_ID] = None
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


def load(state_dir: Path) -> Stored | None:
    try:
        raw = json.loads((state_dir / CACHE_FILE).read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT:
            return None
        computed_at = dt.datetime.fromisoformat(raw["computed_at"])
        verified_at = dt.datetime.fromisoformat(raw["verified_at"])
        patches = raw["patches"]
        return Stored(
            fingerprint=str(raw["fingerprint"]),
            computed_at=computed_at,
            verified_at=verified_at,
            patches=None if patches is None else convert(patches, Patches),
            errors=convert(raw["errors"], list[CollectionError]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        # Absent, or written by another version, or damaged: computed afresh.
        return None


def save(state_dir: Path, stored: Stored) -> None:
    data = {
        "format": FORMAT,
        "fingerprint": stored.fingerprint,
        "computed_at": stored.computed_at.isoformat(),
        "verified_at": stored.verified_at.isoformat(),
        "patches": None if stored.patches is None else to_data(stored.patches),
        "errors": to_data(stored.errors),
    }
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(state_dir / CACHE_FILE, json.dumps(data).encode("utf-8"))


Compute = Callable[[], tuple[Patches | None, list[CollectionError]]]


def _age_s(since: dt.datetime, now: dt.datetime) -> float:
    return (now - since).total_seconds()


def usable(stored: Stored | None, now: dt.datetime, interval_s: float) -> bool:
    """Whether a stored state may be used at all: computed less than
    :data:`RECOMPUTE_INTERVALS` intervals ago (and not in the future: a clock set back),
    with the pending updates known (a failed ``apt`` run, a held lock, is retried, not
    kept)."""
    if stored is None or stored.patches is None or stored.patches.pending_count is None:
        return False
    computed = _age_s(stored.computed_at, now)
    verified = _age_s(stored.verified_at, now)
    return 0 <= computed < RECOMPUTE_INTERVALS * interval_s and verified >= 0


def patch_state(
    machine: Machine,
    state_dir: Path,
    interval_s: float,
    compute: Compute,
    *,
    verify: bool = True,
    now: dt.datetime | None = None,
) -> tuple[Patches | None, list[CollectionError], bool]:
    """The patch state and its errors, and whether it was the stored one.

    The stored state is used when it is :func:`usable` and its fingerprint is unchanged
    (which is then noted as its confirmation). Without ``verify`` (the light reports
    between two patch refreshes) a confirmation younger than ``interval_s`` suffices and
    the files are not looked at. Otherwise ``compute`` runs and its result is stored with
    the fingerprint taken *before* it ran (a change while apt runs is seen by the next run).
    """
    now = now or dt.datetime.now(dt.UTC)
    stored = load(state_dir)
    current: str | None = None
    if stored is not None and usable(stored, now, interval_s):
        if not verify and _age_s(stored.verified_at, now) < interval_s:
            return stored.patches, stored.errors, True
        current = fingerprint(machine)
        if current is not None and current == stored.fingerprint:
            save(state_dir, dataclasses.replace(stored, verified_at=now))
            return stored.patches, stored.errors, True
    else:
        current = fingerprint(machine)
    patches, errors = compute()
    if current is not None:
        save(state_dir, Stored(current, now, now, patches, errors))
    return patches, errors, False
