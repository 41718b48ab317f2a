"""The Windows Update Agent behind :class:`agent.context.UpdateAgent`, live through
``comtypes`` (a dependency on Windows only, imported when first used).

Each call reads plain properties off the COM objects and returns them as JSON values, so a
recording is exactly what the probe saw. The searcher runs offline (``Online = False``): it
answers from the update metadata of Windows' own last scan instead of contacting Windows
Update or WSUS from every agent run; how old that scan is, is Windows' business (it scans
daily). COM is initialised per call because probes run in worker threads.

This module cannot run on Linux; the probes' tests replay recordings instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from agent.sources import JSON

T = TypeVar("T")
MAX_UPDATES = 2_000


@contextmanager
def _com() -> Iterator[Any]:
    import comtypes  # noqa: PLC0415 - Windows only
    import comtypes.client  # noqa: PLC0415

    comtypes.CoInitializeEx(comtypes.COINIT_APARTMENTTHREADED)
    try:
        yield comtypes.client
    finally:
        comtypes.CoUninitialize()


def _items(collection: Any, limit: int = MAX_UPDATES) -> list[Any]:
    return [collection.Item(i) for i in range(min(int(collection.Count), limit))]


def _categories(entry: Any) -> list[str]:
    return [str(c.CategoryID).lower() for c in _items(entry.Categories)]


def _utc(value: Any) -> str | None:
    # WUA gives history dates in UTC; comtypes returns a naive datetime for a DATE.
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC).isoformat()


class LiveUpdateAgent:
    def _searcher(self, client: Any) -> Any:
        session = client.CreateObject("Microsoft.Update.Session", dynamic=True)
        session.ClientApplicationID = "inventar-agent"
        searcher = session.CreateUpdateSearcher()
        searcher.Online = False
        return searcher

    def _with(self, fn: Callable[[Any], T]) -> T:
        with _com() as client:
            return fn(client)

    def search(self, criteria: str) -> list[dict[str, JSON]]:
        def run(client: Any) -> list[dict[str, JSON]]:
            result = self._searcher(client).Search(criteria)
            return [
                {
                    "Title": str(u.Title),
                    "KBArticleIDs": [str(k) for k in _items(u.KBArticleIDs)],
                    "MsrcSeverity": str(u.MsrcSeverity) if u.MsrcSeverity else None,
                    "CategoryIDs": _categories(u),
                    "RebootRequired": bool(u.RebootRequired),
                    "UpdateID": str(u.Identity.UpdateID),
                }
                for u in _items(result.Updates)
            ]

        return self._with(run)

    def history(self, count: int) -> list[dict[str, JSON]]:
        def run(client: Any) -> list[dict[str, JSON]]:
            searcher = self._searcher(client)
            total = int(searcher.GetTotalHistoryCount())
            entries = searcher.QueryHistory(0, min(total, count)) if total else None
            return [
                {
                    "Title": str(e.Title) if e.Title else None,
                    "Date": _utc(e.Date),
                    "Operation": int(e.Operation),
                    "ResultCode": int(e.ResultCode),
                    "CategoryIDs": _categories(e),
                    "UpdateID": str(e.UpdateIdentity.UpdateID),
                }
                for e in (_items(entries, count) if entries is not None else [])
            ]

        return self._with(run)

    def reboot_required(self) -> bool:
        def run(client: Any) -> bool:
            info = client.CreateObject("Microsoft.Update.SystemInfo", dynamic=True)
            return bool(info.RebootRequired)

        return self._with(run)
