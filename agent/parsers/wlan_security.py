"""The one place that turns what a WLAN tool says about security into the schema's words.

Every mapping answers "what is the weakest mode this network or profile accepts?", because
that is what an attacker gets: a WPA/WPA2 mixed network with TKIP is ``wpa-psk``, a WPA2/WPA3
transition network is ``wpa2-psk`` (design.md, "Report, schema version 1").
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.schema import WlanSecurity

# The schema's words; the parsers' return type.
Security = WlanSecurity

# Authentication (AKM) families, named as iw prints the RSN/WPA suites. iw older than 5.x
# prints suites it does not know as "00-0f-ac:N"; those are the IEEE 802.11 AKM numbers.
_PSK = {"PSK", "FT/PSK", "PSK/SHA-256", "00-0f-ac:2", "00-0f-ac:4", "00-0f-ac:6"}
_EAP = {
    "IEEE 802.1X",
    "FT/IEEE 802.1X",
    "IEEE 802.1X/SHA-256",
    "FILS/SHA-256",
    "FILS/SHA-384",
    "FT/FILS/SHA-256",
    "FT/FILS/SHA-384",
    "00-0f-ac:1",
    "00-0f-ac:3",
    "00-0f-ac:5",
}
# Suite B is the only EAP flavour that by itself proves WPA3-Enterprise (192-bit mode).
_EAP_SUITE_B = {
    "IEEE 802.1X/SUITE-B",
    "IEEE 802.1X/SUITE-B-192",
    "FT/IEEE 802.1X/SHA-384",
    "00-0f-ac:11",
    "00-0f-ac:12",
    "00-0f-ac:13",
}
_SAE = {"SAE", "FT/SAE", "SAE-EXT-KEY", "FT/SAE-EXT-KEY", "00-0f-ac:8", "00-0f-ac:9"}
_SAE |= {"00-0f-ac:24", "00-0f-ac:25"}
_OWE = {"OWE", "00-0f-ac:18"}


def from_suites(
    *,
    privacy: bool | None,
    rsn_akms: Iterable[str] | None,
    wpa_akms: Iterable[str] | None,
    ciphers: Iterable[str] = (),
    mfp_required: bool = False,
) -> Security:
    """Security of a BSS from its beacon: RSN and WPA (v1) IEs and the Privacy bit.

    ``rsn_akms``/``wpa_akms`` are None when the IE is absent. ``ciphers`` are all pairwise
    and group ciphers of both IEs: TKIP anywhere means legacy WPA clients are accepted.
    """
    if rsn_akms is None and wpa_akms is None:
        if privacy is None:
            return "unknown"
        return "wep" if privacy else "open"
    akms = {a.strip() for a in [*(rsn_akms or ()), *(wpa_akms or ())]}
    legacy = wpa_akms is not None or any(c.upper().startswith("TKIP") for c in ciphers)
    if akms & _PSK:
        return "wpa-psk" if legacy else "wpa2-psk"
    if akms & _EAP:
        # 802.1X/SHA-256 with management-frame protection required is what WPA3-Enterprise
        # (non-192-bit) demands; plain 802.1X alongside it lets WPA2 clients in.
        only_sha256 = akms & _EAP == {"IEEE 802.1X/SHA-256"} or akms & _EAP == {"00-0f-ac:5"}
        if only_sha256 and mfp_required and not legacy:
            return "wpa3-enterprise"
        # The enumeration has no WPA1-Enterprise; TKIP enterprise networks are rare enough
        # that wpa2-enterprise (EAP is still the authentication) is the honest nearest word.
        return "wpa2-enterprise"
    if akms & _EAP_SUITE_B:
        return "wpa3-enterprise"
    if akms & _SAE:
        return "wpa3-sae"
    if akms & _OWE:
        return "owe"
    return "unknown"


def from_nm_ap(security: str | None, wpa_flags: str | None, rsn_flags: str | None) -> Security:
    """An access point as ``nmcli device wifi list`` shows it.

    The WPA-FLAGS/RSN-FLAGS columns are exact (cipher and key management bits); SECURITY is
    a summary that hides TKIP and shows Suite-B-only networks as "". Flags win when present.
    """
    wpa = _nm_flags(wpa_flags)
    rsn = _nm_flags(rsn_flags)
    if wpa is not None or rsn is not None:
        ciphers = [f.split("_", 1)[1] for f in (wpa or set()) | (rsn or set()) if "_" in f]
        ciphers = [c for c in ciphers if c in {"tkip", "ccmp", "wep40", "wep104"}]
        return from_suites(
            privacy=True,
            rsn_akms=_nm_akms(rsn) if rsn is not None else None,
            wpa_akms=_nm_akms(wpa) if wpa is not None else None,
            ciphers=ciphers,
        )
    return from_nmcli_security(security)


def _nm_flags(text: str | None) -> set[str] | None:
    if text is None:
        return None
    flags = set(text.split())
    # NetworkManager prints "(none)" for an absent IE; nmcli's own source spells WEP as
    # "wpe" in these flags, so both spellings are accepted.
    if not flags or flags <= {"(none)", "--"}:
        return None
    return {f.replace("wpe", "wep") for f in flags}


def _nm_akms(flags: set[str]) -> list[str]:
    names = {
        "psk": "PSK",
        "802.1X": "IEEE 802.1X",
        "sae": "SAE",
        "owe": "OWE",
        "wpa-eap-suite-b-192": "IEEE 802.1X/SUITE-B-192",
    }
    return [names[f] for f in flags if f in names]


def from_nmcli_security(security: str | None) -> Security:
    """nmcli's SECURITY column: "", "WEP", "WPA1", "WPA1 WPA2", "WPA2 802.1X", "WPA3", "OWE"."""
    if security is None:
        return "unknown"
    tokens = set(security.split())
    if not tokens or tokens == {"--"}:
        return "open"
    if "WEP" in tokens:
        return "wep"
    if "802.1X" in tokens:
        return "wpa2-enterprise"
    if "WPA1" in tokens:
        return "wpa-psk"
    if "WPA2" in tokens:
        return "wpa2-psk"
    if "WPA3" in tokens:
        return "wpa3-sae"
    if "OWE" in tokens:
        return "owe"
    if "OWE-TM" in tokens:
        # The open half of an OWE transition pair: clients without OWE join it unencrypted.
        return "open"
    return "unknown"


def from_nm_key_mgmt(key_mgmt: str | None, proto: str | None = None) -> Security:
    """A NetworkManager profile's ``802-11-wireless-security.key-mgmt`` (and ``.proto``).

    ``key_mgmt`` "" means the profile has no security setting at all: an open network.
    """
    if key_mgmt is None:
        return "unknown"
    km = key_mgmt.strip().lower()
    if km in {"", "--"}:
        return "open"
    if km in {"none", "ieee8021x"}:
        # Static WEP keys ("none") or dynamic WEP via 802.1X: both are WEP on the air.
        return "wep"
    if km == "wpa-psk":
        # proto "wpa" alone pins the profile to WPA1; empty proto lets NM use either.
        protos = set((proto or "").replace(",", " ").split())
        return "wpa-psk" if protos == {"wpa"} else "wpa2-psk"
    if km in {"wpa-eap", "wpa-eap-sha256"}:
        return "wpa2-enterprise"
    if km == "wpa-eap-suite-b-192":
        return "wpa3-enterprise"
    if km == "sae":
        return "wpa3-sae"
    if km == "owe":
        return "owe"
    return "unknown"


def from_wpa_supplicant(
    key_mgmt: str | None, pairwise_cipher: str | None = None, group_cipher: str | None = None
) -> Security:
    """wpa_supplicant's ``key_mgmt`` as ``wpa_cli status`` prints it (wpa_key_mgmt_txt)."""
    if key_mgmt is None:
        return "unknown"
    km = key_mgmt.strip().upper()
    ciphers = {(pairwise_cipher or "").upper(), (group_cipher or "").upper()}
    tkip = "TKIP" in ciphers
    if km == "NONE":
        return "wep" if any(c.startswith("WEP") for c in ciphers) else "open"
    if km == "IEEE 802.1X (NO WPA)":
        return "wep"
    if km == "WPA-PSK":
        return "wpa-psk"
    if km in {"WPA2-PSK", "FT-PSK", "WPA2-PSK-SHA256"}:
        # A TKIP group cipher means the AP also serves WPA1/TKIP clients: a mixed network.
        return "wpa-psk" if tkip else "wpa2-psk"
    if km in {"WPA2-EAP-SUITE-B", "WPA2-EAP-SUITE-B-192", "FT-EAP-SHA384"}:
        return "wpa3-enterprise"
    if km in {"WPA/IEEE 802.1X/EAP", "WPA2/IEEE 802.1X/EAP", "FT-EAP", "WPA2-EAP-SHA256"}:
        return "wpa2-enterprise"
    if km.startswith("FILS-") or km.startswith("FT-FILS-"):
        return "wpa2-enterprise"
    if km in {"SAE", "FT-SAE", "SAE-EXT-KEY", "FT-SAE-EXT-KEY"}:
        return "wpa3-sae"
    if km == "OWE":
        return "owe"
    return "unknown"


def freq_to_channel(freq_mhz: int | None) -> int | None:
    """IEEE 802.11 channel number of a centre frequency (2.4, 4.9/5 and 6 GHz bands)."""
    if freq_mhz is None:
        return None
    f = freq_mhz
    if f == 2484:
        return 14
    if 2412 <= f <= 2472:
        return (f - 2407) // 5
    if f == 5935:
        return 2
    if 5955 <= f <= 7115:
        return (f - 5950) // 5
    if 4910 <= f <= 4980:
        return (f - 4000) // 5
    if 5150 <= f <= 5925:
        return (f - 5000) // 5
    return None


def from_windows(authentication: str | None, cipher: str | None = None) -> Security:
    """netsh's ``Authentication``/``Authentifizierung`` and ``Cipher``/``Verschlüsselung``.

    The security words are not translated by Windows (``WPA2-Personal`` in German output
    too); "Open"/"Offen" and "Shared"/"Gemeinsam" are. TKIP as cipher means the network
    accepts WPA1-era clients: ``wpa-psk`` (the weakest mode wins).
    """
    if authentication is None:
        return "unknown"
    auth = authentication.strip().casefold()
    ciph = (cipher or "").strip().casefold()
    if auth in {"open", "offen"}:
        return "wep" if ciph.startswith("wep") else "open"
    if auth in {"shared", "gemeinsam", "freigegeben"}:
        return "wep"
    if "owe" in auth:
        return "owe"
    if "enterprise" in auth or "unternehmen" in auth:
        if auth.startswith("wpa3") and "wpa2" not in auth:
            return "wpa3-enterprise"
        return "wpa2-enterprise"
    if "wpa3" in auth and "wpa2" not in auth:
        return "wpa3-sae"
    if auth.startswith("wpa2") or auth == "wpa2-psk":
        return "wpa-psk" if ciph == "tkip" else "wpa2-psk"
    if auth.startswith("wpa"):
        return "wpa-psk"
    return "unknown"


_MACOS_MODES: dict[str, Security] = {
    "spairport_security_mode_none": "open",
    "spairport_security_mode_wep": "wep",
    "spairport_security_mode_wpa_personal": "wpa-psk",
    "spairport_security_mode_wpa_personal_mixed": "wpa-psk",
    "spairport_security_mode_wpa2_personal": "wpa2-psk",
    "spairport_security_mode_wpa3_transition": "wpa2-psk",
    "spairport_security_mode_wpa3_personal": "wpa3-sae",
    "spairport_security_mode_wpa_enterprise": "wpa2-enterprise",
    "spairport_security_mode_wpa_enterprise_mixed": "wpa2-enterprise",
    "spairport_security_mode_wpa2_enterprise": "wpa2-enterprise",
    "spairport_security_mode_wpa3_enterprise": "wpa3-enterprise",
    "spairport_security_mode_owe": "owe",
    "spairport_security_mode_owe_transition": "open",
}


def from_macos(mode: str | None) -> Security:
    """``spairport_security_mode`` of ``system_profiler SPAirPortDataType``."""
    if mode is None:
        return "unknown"
    return _MACOS_MODES.get(mode.strip(), "unknown")
