"""Codes of the report and the findings said in words (translated where they are shown)."""

from __future__ import annotations

from collector.web.i18n import N_

WLAN_SECURITY = {
    "open": N_("open, unencrypted"),
    "wep": N_("WEP: broken encryption, as good as open"),
    "wpa-psk": N_("WPA with a shared password (outdated, TKIP)"),
    "wpa2-psk": N_("WPA2 with a shared password"),
    "wpa2-enterprise": N_("WPA2-Enterprise: a login per person or device"),
    "wpa3-sae": N_("WPA3 with a password (SAE)"),
    "wpa3-enterprise": N_("WPA3-Enterprise: a login per person or device"),
    "owe": N_("Enhanced Open: encrypted without a password"),
    "unknown": N_("unknown"),
}
INSECURE_WLAN = ("open", "wep")

SITE_KINDS = {
    "school": N_("School"),
    "kindergarten": N_("Kita"),
    "town-hall": N_("Town hall"),
    "other": N_("Other site"),
}
SEVERITIES = {
    "critical": N_("critical"),
    "high": N_("high"),
    "medium": N_("medium"),
    "low": N_("low"),
    "info": N_("info"),
}
STATUSES = {
    "fail": N_("fails"),
    "waived": N_("waived"),
    "unknown": N_("unknown"),
    "pass": N_("passes"),
    "not-applicable": N_("not applicable"),
}
CATEGORIES = {
    "security": N_("Security"),
    "ergonomics": N_("Ergonomics"),
    "lifecycle": N_("Lifecycle"),
}
CHASSIS = {
    "desktop": N_("Desktop"),
    "laptop": N_("Notebook"),
    "tablet": N_("Tablet"),
    "server": N_("Server"),
    "vm": N_("Virtual machine"),
    "other": N_("Other"),
}
ROLES = {
    "workplace": N_("Workplace"),
    "classroom": N_("Classroom"),
    "pupil-device": N_("Pupil device"),
    "kiosk": N_("Kiosk"),
    "server": N_("Server"),
    "other": N_("Other"),
}
OS_FAMILIES = {"linux": "Linux", "windows": "Windows", "darwin": "macOS"}
PERSON_ROLES = {
    "admin": N_("Administrator"),
    "viewer": N_("Viewer"),
    "planner": N_("Planner"),
    "dpo": N_("Data-protection officer"),
    "metrics": N_("Prometheus (metrics only)"),
}
USER_SOURCES = {"local": N_("local password"), "oidc": N_("OpenID Connect"), "ldap": N_("LDAP")}
BUDGET_CATEGORIES = {
    "desktop": N_("Desktop PCs"),
    "laptop": N_("Notebooks"),
    "tablet": N_("Tablets"),
    "monitor": N_("Monitors"),
}
BUDGET_REASONS = {"age": N_("replacement cycle reached"), "ergonomics": N_("ergonomics")}
# What fixes a failing check of a screen workplace (collector.queries.ergonomics.FIXES).
ERGONOMICS_FIXES = {
    "monitor": N_("a monitor of at least 21.5 inches (24 recommended)"),
    "external": N_(
        "an external monitor, keyboard and mouse or a docking station; the budget buys the monitor"
    ),
    "setting": N_("a setting on the device, no purchase"),
    "replace": N_("replacing the device"),
}
VERDICTS = {
    "pass": N_("met"),
    "fail": N_("not met"),
    "unknown": N_("unknown"),
    "waived": N_("waived"),
}
CREDENTIAL_STATES = {
    "active": N_("active"),
    "revoked": N_("revoked"),
    "expired": N_("expired"),
    "used up": N_("used up"),
}
START_SOURCES = {
    "purchase": N_("purchase date"),
    "bios": N_("BIOS date"),
    "edid": N_("year of manufacture"),
}
UPDATE_POLICIES = {
    "automatic": N_("automatic"),
    "wsus": N_("WSUS"),
    "intune": N_("Intune"),
    "manual": N_("manual"),
}
# The overview's numbers (collector.queries.overview.HOST_METRICS' keys, and devices).
OVERVIEW = {
    "hosts": N_("Hosts"),
    "silent": N_("Silent for more than 3 days"),
    "failing": N_("Failing a critical or high check"),
    "pending": N_("Security update pending for more than 30 days"),
    "unsupported": N_("Operating system out of support"),
    "wlan": N_("In an open or WEP WLAN"),
    "unmanaged": N_("Unmanaged devices on the network"),
}
