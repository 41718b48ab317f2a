"""``manage-bde -status``: BitLocker state of every volume, German and English output."""

from __future__ import annotations

import re
from dataclasses import dataclass

# English: 'Volume C: [OSDisk]'; German: 'Volume "C:" []'.
_VOLUME = re.compile(r'^\s*Volume\s+"?(?P<mount>[A-Za-z]:|\\\\\?\\[^"\s]+)"?(?:\s|$)')
_FIELD = re.compile(r"^\s+(?P<label>[^:]+?):\s+(?P<value>.+?)\s*$")
_LABELS = {
    "conversion status": "conversion",
    "konvertierungsstatus": "conversion",
    "percentage encrypted": "percent",
    "verschlüsselt (prozent)": "percent",
    "encryption method": "method",
    "verschlüsselungsmethode": "method",
    "protection status": "protection",
    "schutzstatus": "protection",
}
_PROTECTION_ON = {"protection on", "der schutz ist aktiviert."}
_PROTECTION_OFF = {"protection off", "der schutz ist deaktiviert."}
_FULLY_ENCRYPTED = {
    "fully encrypted",
    "used space only encrypted",
    "vollständig verschlüsselt",
    "nur verwendeter speicherplatz verschlüsselt",
}
_NO_METHOD = {"none", "kein", "keine"}


@dataclass(frozen=True)
class BdeVolume:
    mount: str
    conversion: str | None
    percent_encrypted: float | None
    method: str | None
    protection_on: bool | None

    @property
    def encrypted(self) -> bool | None:
        """Protected at rest: protection on *and* the data encrypted (fully, used space
        only, or 100 % of an ongoing conversion). Encrypted with protection off (suspended,
        "waiting for activation") leaves the key in the clear on the disk: not protected."""
        if self.protection_on is None:
            return None
        if not self.protection_on:
            return False
        if (self.conversion or "").casefold() in _FULLY_ENCRYPTED:
            return True
        return self.percent_encrypted is not None and self.percent_encrypted >= 100.0


def _percent(value: str) -> float | None:
    match = re.match(r"^(\d+(?:[.,]\d+)?)\s*%", value)
    return float(match.group(1).replace(",", ".")) if match else None


def parse_status(text: str) -> list[BdeVolume]:
    volumes: list[dict[str, str]] = []
    for line in text.splitlines():
        vol = _VOLUME.match(line)
        if vol:
            volumes.append({"mount": vol["mount"]})
            continue
        field = _FIELD.match(line)
        if field and volumes:
            key = _LABELS.get(field["label"].strip().casefold())
            if key:
                volumes[-1].setdefault(key, field["value"])
    result = []
    for v in volumes:
        protection = (v.get("protection") or "").casefold()
        method = v.get("method")
        result.append(
            BdeVolume(
                mount=v["mount"],
                conversion=v.get("conversion"),
                percent_encrypted=_percent(v["percent"]) if "percent" in v else None,
                method=None if method is None or method.casefold() in _NO_METHOD else method,
                protection_on=True
                if protection in _PROTECTION_ON
                else False
                if protection in _PROTECTION_OFF
                else None,
            )
        )
    return result
