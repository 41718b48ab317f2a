"""Reading the rest of a request body that is refused (413) before answering."""

from __future__ import annotations

from starlette.types import Receive

# How much of an oversized body is read (and dropped) before the 413 is sent: a client that
# is still sending when the server closes gets a connection reset instead of the answer
# (Python's urllib does, for a 30 MB body). Beyond this the connection is closed at once.
DRAIN_BYTES = 256 * 1024 * 1024


async def drain(receive: Receive, limit: int = DRAIN_BYTES) -> None:
    """Reads the rest of a request body, up to ``limit`` bytes, and drops it."""
    drained = 0
    while drained <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
