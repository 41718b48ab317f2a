"""The names every source of machine data shares: the protocols of :mod:`agent.context` and
their live (:mod:`agent.registry`, :mod:`agent.wua`), recorded and replayed implementations.

They live below :mod:`agent.context` so that the live implementations need not import it:
``agent.context.live_machine`` builds a machine from them, and the dependency stays one-way.
"""

from __future__ import annotations

from typing import Any, Literal

JSON = Any

# Which registry view a key is read in: the 64-bit one, or the 32-bit programs' one
# (KEY_WOW64_32KEY; HKLM\SOFTWARE\X is HKLM\SOFTWARE\WOW6432Node\X there).
View = Literal[64, 32]


class NotRecorded(LookupError):
    """A replayed bundle holds no answer for this call."""


class Unavailable(LookupError):
    """This machine has no such source (a Linux host has no registry)."""
