"""Filtering and paging of list queries: the hosts, findings and devices lists share them."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, func, select

from collector.models import Host, Site, table_of


def where_given(query: Any, *conditions: tuple[Any, object]) -> Any:
    """``query`` with ``column == value`` for each pair whose value was given (not None)."""
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    return query


def in_scope(query: Any, org_id: int | None, site: str | None) -> Any:
    """``query`` (over hosts joined with their sites) limited to an organization and a site
    name, each where given."""
    if org_id is not None:
        query = query.where(table_of(Host).c.org_id == org_id)
    if site is not None:
        query = query.where(table_of(Site).c.name == site)
    return query


def page(
    session: Session, query: Any, *order_by: Any, offset: int, limit: int
) -> tuple[int, list[Any]]:
    """The number of rows ``query`` matches, and its rows from ``offset`` on, at most ``limit``."""
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(*order_by).offset(offset).limit(limit)).all()
    return total, list(rows)
