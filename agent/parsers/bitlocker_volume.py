"""``Get-BitLockerVolume … | Format-List``: BitLocker state per volume. Property names and
values are the cmdlet's enum names (``FullyEncrypted``, ``On``, ``XtsAes128``), never
translated; the method is reported in manage-bde's words so that both sources agree."""

from __future__ import annotations

from dataclasses import dataclass

from agent.parsers.powershell_list import parse_list

# EncryptionMethod enum -> the name manage-bde prints.
_METHODS = {
    "aes128": "AES 128",
    "aes256": "AES 256",
    "aes128diffuser": "AES 128 with Diffuser",
    "aes256diffuser": "AES 256 with Diffuser",
    "xtsaes128": "XTS-AES 128",
    "xtsaes256": "XTS-AES 256",
    "hardware": "Hardware Encryption",
}


@dataclass(frozen=True)
class BitLockerVolume:
    mount: str
    volume_status: str | None
    protection_on: bool | None
    percent_encrypted: float | None
    method: str | None

    @property
    def encrypted(self) -> bool | None:
        """As for manage-bde: protection on and the data fully encrypted (or at 100 %)."""
        if self.protection_on is None:
            return None
        if not self.protection_on:
            return False
        if (self.volume_status or "").casefold() == "fullyencrypted":
            return True
        return self.percent_encrypted is not None and self.percent_encrypted >= 100.0


def _percent(value: str | None) -> float | None:
    try:
        return float((value or "").replace(",", "."))
    except ValueError:
        return None


def parse_volumes(text: str) -> list[BitLockerVolume]:
    volumes = []
    for record in parse_list(text):
        mount = record.get("MountPoint")
        if not mount:
            continue
        protection = (record.get("ProtectionStatus") or "").casefold()
        method = (record.get("EncryptionMethod") or "").strip()
        volumes.append(
            BitLockerVolume(
                mount=mount,
                volume_status=record.get("VolumeStatus") or None,
                protection_on=True
                if protection == "on"
                else False
                if protection == "off"
                else None,
                percent_encrypted=_percent(record.get("EncryptionPercentage")),
                method=None
                if not method or method.casefold() == "none"
                else _METHODS.get(method.casefold(), method),
            )
        )
    return volumes
