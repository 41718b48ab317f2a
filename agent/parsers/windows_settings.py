"""Security and update settings from registry values, each as Microsoft documents it.

Every function takes the values of the keys it needs (None: the key is absent) and gives the
fact, or None when the values do not decide it; none of them guesses a default that depends
on something not read.

- SMBv1 ("How to detect, enable and disable SMBv1, SMBv2, and SMBv3 in Windows"): the server
  side is ``LanmanServer\\Parameters\\SMB1`` (0 off, 1 on; absent: Windows' default, which
  depends on whether the SMB1 optional feature is installed, so unknown here); the client side
  is the ``mrxsmb10`` driver (``Start`` 4 = disabled; no key = not installed).
- RDP: ``Control\\Terminal Server\\fDenyTSConnections`` (0 = connections allowed), overridden by
  the Group Policy value of the same name under ``Policies\\Microsoft\\Windows NT\\Terminal
  Services``; NLA is ``WinStations\\RDP-Tcp\\UserAuthentication`` = 1 (policy value likewise).
- Windows Firewall: ``EnableFirewall`` of the Domain, Standard (private) and Public profiles
  under ``SharedAccess\\Parameters\\FirewallPolicy``, each overridden by Group Policy under
  ``Policies\\Microsoft\\WindowsFirewall\\{Domain,Private,Public}Profile``.
- Updates (Group Policy "Configure Automatic Updates" and "Specify intranet Microsoft update
  service location", ``Policies\\Microsoft\\Windows\\WindowsUpdate[\\AU]``): NoAutoUpdate = 1
  or AUOptions 2 (notify before download), 3 (download, notify before install), 7 (notify
  before install and restart) leave the install to a person; 4 installs on a schedule; 5 lets
  the local administrator choose (unknown). UseWUServer = 1 with a WUServer is WSUS. An MDM
  (Intune) update policy is written by Windows to ``PolicyManager\\current\\device\\Update``;
  its ``AllowAutoUpdate`` (Policy CSP Update/AllowAutoUpdate) 0 (notify before download) and
  5 (automatic updates off) leave the install to a person, 1 to 4 install automatically.
  No policy at all is Windows' default: automatic.
- Screen lock: the machine policy "Interactive logon: Machine inactivity limit",
  ``Policies\\System\\InactivityTimeoutSecs`` (seconds; locks the session, unlocking needs the
  password). Per-user screen savers live in each user's hive, which is not read.
- Reboot pending: the Windows Update key ``Auto Update\\RebootRequired`` and the servicing key
  ``Component Based Servicing\\RebootPending`` exist only while a reboot is due;
  ``Session Manager\\PendingFileRenameOperations`` lists files replaced at the next boot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent.parsers.regfile import REG_MULTI_SZ
from agent.parsers.regvalues import Values, dword, raw, text

UpdatePolicy = Literal["automatic", "wsus", "intune", "manual"]
FIREWALL_PROFILES = (
    ("DomainProfile", "DomainProfile"),
    ("StandardProfile", "PrivateProfile"),
    ("PublicProfile", "PublicProfile"),
)  # (local key, policy key)


def smb1(
    server_parameters: Values | None, mrxsmb10: Values | None, mrxsmb10_read: bool
) -> bool | None:
    server = dword(server_parameters, "SMB1")
    server_on = None if server is None else server != 0
    client_on: bool | None
    if not mrxsmb10_read:
        client_on = None
    elif mrxsmb10 is None:
        client_on = False  # the SMBv1 client driver is not installed
    else:
        start = dword(mrxsmb10, "Start")
        client_on = None if start is None else start != 4
    if server_on or client_on:
        return True
    if server_on is False and client_on is False:
        return False
    return None


@dataclass(frozen=True)
class RdpState:
    enabled: bool | None
    nla: bool | None


def rdp(
    terminal_server: Values | None, rdp_tcp: Values | None, policy: Values | None
) -> RdpState | None:
    deny = dword(policy, "fDenyTSConnections")
    if deny is None:
        deny = dword(terminal_server, "fDenyTSConnections")
    if deny is None:
        return None
    nla = dword(policy, "UserAuthentication")
    if nla is None:
        nla = dword(rdp_tcp, "UserAuthentication")
    return RdpState(enabled=deny == 0, nla=None if nla is None else nla == 1)


def firewall_profile(local: Values | None, policy: Values | None) -> bool | None:
    value = dword(policy, "EnableFirewall")
    if value is None:
        value = dword(local, "EnableFirewall")
    return None if value is None else value != 0


@dataclass(frozen=True)
class Updates:
    policy: UpdatePolicy
    automatic: bool | None
    server: str | None


def update_policy(
    windows_update: Values | None, au: Values | None, mdm_update: Values | None
) -> Updates:
    automatic: bool | None = True
    if dword(au, "NoAutoUpdate") == 1:
        automatic = False
    else:
        option = dword(au, "AUOptions")
        if option in (2, 3, 7):
            automatic = False
        elif option == 5:
            automatic = None
    server = text(windows_update, "WUServer")
    if dword(au, "UseWUServer") == 1 and server:
        return Updates("wsus", automatic, server)
    if mdm_update:
        mdm = dword(mdm_update, "AllowAutoUpdate")
        if mdm is not None and au is None:
            automatic = mdm in (1, 2, 3, 4)
        return Updates("intune", automatic, None)
    return Updates("manual" if automatic is False else "automatic", automatic, None)


def screen_lock_timeout(system_policy: Values | None) -> int | None:
    seconds = dword(system_policy, "InactivityTimeoutSecs")
    return seconds if seconds else None


def pending_renames(session_manager: Values | None) -> bool | None:
    """Whether files wait to be replaced at the next boot; None when the key was not read."""
    if session_manager is None:
        return None
    value = raw(session_manager, "PendingFileRenameOperations")
    if value is None:
        return False
    if value.type == REG_MULTI_SZ and isinstance(value.data, list):
        return any(value.data)
    return bool(value.data)
