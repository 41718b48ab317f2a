"""The reference data (policies/data) this process derives facts with, loaded once.

Ingest stores derived facts (collector.policy.facts) computed with it; the findings evaluator
replaces it when it reloads the packs and then recomputes the stored facts of every host
(collector.current_state.refresh_facts_if_changed), so that stored facts and the reference
data agree. A directory whose data does not load leaves the facts unknown, never guessed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from collector.policy.reference import (
    DATA_DIR,
    ReferenceData,
    ReferenceDataError,
    load_reference_data,
)

log = logging.getLogger(__name__)

_lock = threading.Lock()
_current: tuple[Path, str, ReferenceData | None] | None = None
_asked_for = ""  # the digest the serving process last asked a decode worker for


@dataclass(frozen=True)
class FactsBasis:
    """The reference data derived facts are computed with, and its digest: the store uses
    facts computed elsewhere (a decode worker) only when the digests agree."""

    digest: str
    reference: ReferenceData | None


NO_FACTS = FactsBasis("", None)


def reference_digest(directory: Path) -> str:
    """The digest of the reference data files (their names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted((directory / DATA_DIR).glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def current(directory: Path | None = None) -> tuple[str, ReferenceData | None]:
    """The digest and reference data in use (loaded from ``directory``, else the settings'
    policies directory, on first use)."""
    global _current  # noqa: PLW0603  (one per process, replaced as a whole)
    with _lock:
        if _current is not None and (directory is None or _current[0] == directory):
            return _current[1], _current[2]
    if directory is None:
        from collector.settings import Settings  # noqa: PLC0415  (reads the environment)

        directory = Settings().policies_dir
    loaded = _load(directory)
    with _lock:
        _current = loaded
        return loaded[1], loaded[2]


def use(directory: Path, digest: str, reference: ReferenceData) -> None:
    """Replaces the reference data in use (the evaluator, after loading the packs)."""
    global _current  # noqa: PLW0603
    with _lock:
        _current = (directory, digest, reference)


def _load(directory: Path) -> tuple[Path, str, ReferenceData | None]:
    try:
        return directory, reference_digest(directory), load_reference_data(directory)
    except (ReferenceDataError, OSError) as exc:
        log.error("reference data in %s does not load; derived facts stay unknown: %s",
                  directory, exc)  # fmt: skip
        return directory, "", None


def basis() -> FactsBasis:
    """The reference data in use, with its digest."""
    digest, reference = current()
    return FactsBasis(digest, reference)


def basis_for(digest: str) -> FactsBasis:
    """In a decode worker: the reference data, loaded again from its directory when the
    serving process asks for another digest than last time (it reloaded the packs). Loaded
    at most once per change, so a directory that no longer matches costs no reload per
    report: the store then computes the facts itself."""
    global _asked_for, _current  # noqa: PLW0603
    ours = current()[0]
    if digest != _asked_for:
        _asked_for = digest
        if digest != ours and _current is not None:
            loaded = _load(_current[0])
            with _lock:
                _current = loaded
    return basis()
