"""Installed applications on macOS from ``system_profiler -xml SPApplicationsDataType``.

The property list form, because that is what real captures of full application lists exist
in; the parser reads the ``-json`` form as well. Apple gives no publisher: the first
certificate of the signature ("Developer ID Application: …", "Software Signing" for Apple's
own) stands in for it only when the app came from an identified developer or Apple.
"""

from __future__ import annotations

from agent.context import ProbeContext
from agent.parsers import system_profiler as sp
from agent.schema import Software

APPLICATIONS = ["system_profiler", "-xml", "SPApplicationsDataType"]
TIMEOUT_S = 180.0  # it opens every bundle on the disk


def _publisher(app: sp.Application) -> str | None:
    if app.obtained_from == "apple":
        return "Apple Inc."
    signer = app.signed_by or ""
    if signer.startswith("Developer ID Application: "):
        return signer.removeprefix("Developer ID Application: ")[:256]
    return None


def collect(ctx: ProbeContext) -> list[Software] | None:
    text = ctx.output(APPLICATIONS, timeout=TIMEOUT_S)
    if text is None:
        return None
    try:
        apps = sp.parse_applications(text)
    except sp.ProfilerError as exc:
        ctx.error(f"SPApplicationsDataType: {exc}")
        return None
    seen: set[tuple[str, str | None]] = set()
    result = []
    for app in apps:
        key = (app.name[:256], app.version[:256] if app.version else None)
        if key in seen:
            continue
        seen.add(key)
        result.append(Software(name=key[0], version=key[1], publisher=_publisher(app)))
    return result
