"""``lsblk -J -o NAME,TYPE,FSTYPE,MOUNTPOINTS``: which mounted volumes sit on an encrypted
block device.

lsblk prints the device tree (disk -> partition -> crypt/lvm -> ...). A file system is
encrypted when the block device it is on, or any device above it in the tree, is a
dm-crypt mapping (TYPE ``crypt``) or carries a LUKS header (FSTYPE ``crypto_LUKS``; the
``-f`` listing has no TYPE column, so both signs are used). util-linux >= 2.37 prints a
``mountpoints`` list (a btrfs volume may be mounted at several places); older versions a
single ``mountpoint``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Device types whose mounts are not volumes of this machine's disks: snap/AppImage
# squashfs loop images and optical media.
_SKIPPED_TYPES = frozenset({"loop", "rom"})
# FSTYPE of an encrypted container -> method name in the report.
_CONTAINER_METHODS = {"crypto_luks": "luks", "bitlocker": "bitlocker"}


@dataclass(frozen=True)
class MountedVolume:
    mount: str
    encrypted: bool
    method: str | None  # "luks", "bitlocker" (opened by cryptsetup) or "dm-crypt" (plain)
    device: str | None


def _mounts(node: dict[str, Any]) -> list[str]:
    raw = node.get("mountpoints")
    if raw is None:
        raw = [node.get("mountpoint")]
    if not isinstance(raw, list):
        raw = [raw]
    # "[SWAP]" is how lsblk marks active swap: not a file system anyone mounts.
    return [m for m in raw if isinstance(m, str) and m and not m.startswith("[")]


def _walk(
    node: dict[str, Any], chain: tuple[dict[str, Any], ...], out: list[MountedVolume]
) -> None:
    chain = (*chain, node)
    dtype = str(node.get("type") or "").lower()
    mounts = _mounts(node)
    if mounts and dtype not in _SKIPPED_TYPES:
        method: str | None = None
        for dev in chain:
            fstype = str(dev.get("fstype") or "").lower()
            if fstype in _CONTAINER_METHODS:
                method = _CONTAINER_METHODS[fstype]
        if method is None and any(str(d.get("type") or "").lower() == "crypt" for d in chain):
            method = "dm-crypt"
        name = node.get("name")
        for mount in mounts:
            out.append(
                MountedVolume(mount, method is not None, method, str(name) if name else None)
            )
    for child in node.get("children") or []:
        if isinstance(child, dict):
            _walk(child, chain, out)


def parse_lsblk_json(text: str) -> list[MountedVolume]:
    """Every mounted file system once (first occurrence wins), in lsblk's order.

    Raises ValueError on output that is not lsblk JSON.
    """
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("blockdevices"), list):
        raise ValueError("no 'blockdevices' list in lsblk output")
    found: list[MountedVolume] = []
    for node in data["blockdevices"]:
        if isinstance(node, dict):
            _walk(node, (), found)
    seen: set[str] = set()
    unique: list[MountedVolume] = []
    for vol in found:
        if vol.mount not in seen:
            seen.add(vol.mount)
            unique.append(vol)
    return unique
