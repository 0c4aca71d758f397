"""Keyset pagination: one page of a query after a cursor, the way every list endpoint pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bankfeeds.core.ids import decode_cursor, encode_cursor

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """The rows of one page, whether more follow, and the cursor that fetches them."""

    rows: Sequence[T]
    more: bool
    cursor: str | None

    def body(self, name: str, view: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
        """The page as the API lists it: ``{name: [...], "hasMore", "cursor"}``."""
        return {name: [view(r) for r in self.rows], "hasMore": self.more, "cursor": self.cursor}


async def paginate(
    session: AsyncSession,
    query: Select[T],
    key: InstrumentedAttribute[int],
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> Page[T]:
    """One page of ``query`` in ``key`` order after ``cursor``; reads one row more to see if
    another page follows."""
    if cursor:
        after = decode_cursor(cursor)
        query = query.where(key < after if newest_first else key > after)
    query = query.order_by(key.desc() if newest_first else key).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    page, more = rows[:limit], len(rows) > limit
    last = getattr(page[-1], key.key) if page else None
    return Page(page, more, encode_cursor(last) if more and last is not None else None)
