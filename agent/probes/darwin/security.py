"""Security posture on macOS: FileVault (``fdesetup status``) and the application firewall
(``socketfilterfw --getglobalstate``)."""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers.macos_security import parse_fdesetup, parse_socketfilterfw
from agent.schema import DiskEncryption, Security

FDESETUP = ["fdesetup", "status"]
SOCKETFILTERFW = ["/usr/libexec/ApplicationFirewall/socketfilterfw", "--getglobalstate"]


def collect(ctx: ProbeContext) -> Security:
    security = Security(firewall_backend="application-firewall")
    text = ctx.output(SOCKETFILTERFW, timeout=15.0)
    if text is not None:
        security.firewall = parse_socketfilterfw(text)
        if security.firewall is None:
            ctx.error("socketfilterfw --getglobalstate: unrecognised output")
    text = ctx.output(FDESETUP, timeout=15.0)
    if text is not None:
        encrypted = parse_fdesetup(text)
        if encrypted is None:
            ctx.error("fdesetup status: unrecognised output")
        else:
            security.disk_encryption = [
                DiskEncryption(mount="/", encrypted=encrypted, method="FileVault")
            ]
    return security
