"""Query and path parameters shared by the API's routes, with their limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# Names (sites, hosts) without control characters.
NAME_PATTERN = r"^[^\x00-\x1f]*$"
HostId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
SiteQuery = Annotated[str | None, Query(max_length=256, pattern=NAME_PATTERN)]
CHECK_PATTERN = r"^[a-z0-9.\-]+$"
CheckQuery = Annotated[str | None, Query(max_length=128, pattern=CHECK_PATTERN)]
History = Annotated[
    bool, Query(description="include resolved findings (the history), not only current ones")
]
