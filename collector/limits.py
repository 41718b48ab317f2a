"""Limits on what a client may send (bodies, decompressed size, JSON nesting): one value,
set by the settings and used by every entry point that reads a body."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_decompressed_bytes: int = 32 * 1024 * 1024
    max_json_depth: int = 16
