"""Patch status on Windows, from the Windows Update Agent (COM, ``ctx.machine.update_agent``)
and the registry.

- Pending updates: ``IUpdateSearcher.Search("IsInstalled=0 and IsHidden=0")``; security by
  MSRC severity and classification GUID, never by the translated title (agent.parsers.wua).
- Last successful update: the newest successful entry of ``QueryHistory`` that is not an
  uninstallation or a Defender definition update.
- Update policy: Group Policy (WSUS, Configure Automatic Updates) and MDM (Intune) keys
  (agent.parsers.windows_settings).
- Reboot pending: ``ISystemInformation.RebootRequired`` and the registry flags of Windows
  Update, servicing and pending file renames; true when any says so.

``wmic qfe`` is not used: wmic is gone from Windows 11 24H2.
"""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers import windows_settings
from agent.parsers.wua import WuaDataError, last_success, updates
from agent.probes.windows.system import installed_kbs
from agent.schema import Patches, PendingUpdate
from agent.sources import NotRecorded, Unavailable

CRITERIA = "IsInstalled=0 and IsHidden=0"
HISTORY_ENTRIES = 200
WINDOWS_UPDATE_POLICY = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate"
AU_POLICY = WINDOWS_UPDATE_POLICY + "\\AU"
MDM_UPDATE = "HKLM\\SOFTWARE\\Microsoft\\PolicyManager\\current\\device\\Update"
REBOOT_KEYS = (
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\"
    "RebootRequired",
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
)
SESSION_MANAGER = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"


def _wua(ctx: ProbeContext, what: str, call: object) -> object:
    """A Windows Update Agent call's answer, or None with an error entry."""
    try:
        return call() if callable(call) else None
    except (NotRecorded, Unavailable) as exc:
        ctx.error(str(exc))
    except Exception as exc:  # a COM error (e.g. 0x8024402C, no connection) ends nothing else
        ctx.error(f"Windows Update Agent {what}: {type(exc).__name__}: {exc}"[:4000])
    return None


def collect(ctx: ProbeContext) -> Patches:
    patches = Patches(manager="windows-update")
    agent = ctx.machine.update_agent
    _pending(ctx, patches, _wua(ctx, "search", lambda: agent.search(CRITERIA)))
    history = _wua(ctx, "history", lambda: agent.history(HISTORY_ENTRIES))
    if isinstance(history, list):
        patches.last_install = last_success(history)
        if patches.last_install is None:
            ctx.error("Windows Update history: no successful update with a date")
    _policy(ctx, patches)
    patches.reboot_required = _reboot(ctx, _wua(ctx, "reboot", agent.reboot_required))
    patches.installed_kbs = installed_kbs(ctx)
    return patches


def _pending(ctx: ProbeContext, patches: Patches, records: object) -> None:
    if not isinstance(records, list):
        return
    try:
        found = updates(records)
    except WuaDataError as exc:
        ctx.error(f"Windows Update Agent search: {exc}")
        return
    patches.pending = [
        PendingUpdate(
            name=(u.title or ", ".join(u.kbs) or "")[:256] or None,
            security=u.security,
            kb_ids=list(u.kbs[:256]),
            severity=u.severity,
        )
        for u in found
    ]
    patches.pending_count = len(found)
    unknown = sum(1 for u in found if u.security is None)
    if unknown:
        ctx.error(f"{unknown} pending updates without severity or categories: security unknown")
    else:
        patches.pending_security_count = sum(1 for u in found if u.security)


def _policy(ctx: ProbeContext, patches: Patches) -> None:
    wu, wu_ok = ctx.reg_read(WINDOWS_UPDATE_POLICY)
    au, au_ok = ctx.reg_read(AU_POLICY)
    mdm, mdm_ok = ctx.reg_read(MDM_UPDATE)
    if not (wu_ok and au_ok and mdm_ok):
        return
    policy = windows_settings.update_policy(wu, au, mdm)
    patches.update_policy = policy.policy
    patches.auto_updates = policy.automatic
    if policy.automatic is None:
        ctx.error("AUOptions 5: the local administrator chooses; automatic install unknown")


def _reboot(ctx: ProbeContext, agent_says: object) -> bool | None:
    """True when the agent or any registry flag says so; False when every registry flag was
    read and is clear (the agent's answer reflects the same Windows Update state)."""
    flags: list[bool | None] = []
    for key in REBOOT_KEYS:
        values, ok = ctx.reg_read(key)
        flags.append(values is not None if ok else None)
    session, ok = ctx.reg_read(SESSION_MANAGER)
    flags.append(windows_settings.pending_renames(session) if ok else None)
    if agent_says is True or any(flags):
        return True
    return False if all(f is False for f in flags) else None
