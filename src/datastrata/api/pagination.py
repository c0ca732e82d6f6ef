"""One page shape for every HTTP list: ``{"items": [...], "next_cursor": "…" | null}`` with a bounded ``limit``.

A cursor is opaque to clients (base64url of the list it belongs to and where the next page starts); a cursor of
another list, or one a client made up, is refused (422), never a 500. Lists that grow while they are read (events,
history, audit, dead letters, jobs) use a keyset cursor — the sort key of the last item seen, e.g. a version or a
position — so a page is stable while writes go on: nothing is missed or repeated (:func:`keyset_page`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from datastrata.core.errors import ValidationError
from datastrata.core.validation import MAX_INT, bounded_int

T = TypeVar("T")

#: Largest page; the default page.
MAX_PAGE = 1000
DEFAULT_PAGE = 100
#: Furthest a cursor may point into one list.
MAX_OFFSET = 10_000_000

LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size, 1-{MAX_PAGE}")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$", description="`next_cursor` of the previous page"),
]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one (null on the last page)."""

    items: list[T]
    next_cursor: str | None = Field(description="Cursor of the next page; null when this is the last")


def encode_cursor(kind: str, offset: int) -> str:
    """Return the opaque cursor of list `kind` starting at `offset`."""
    raw = json.dumps({"k": kind, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str) -> int:
    """Return the offset a cursor of list `kind` points at (0 without one); refuse anything else."""
    if cursor is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = data["o"] if isinstance(data, dict) and data.get("k") == kind else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        offset = None
    if offset is None or isinstance(offset, bool) or not isinstance(offset, int):
        raise ValidationError(
            "cursor is not a cursor of this list; pass the next_cursor of the previous page, or none for the first",
            field="cursor",
        )
    return bounded_int(offset, field="cursor", minimum=0, maximum=MAX_OFFSET)


def paginate(items: Sequence[T], *, kind: str, limit: int, cursor: str | None, offset: int | None = None) -> Page[T]:
    """Cut one page out of `items`; `offset` says where `items` starts in the whole list (default: the cursor)."""
    start = decode_cursor(cursor, kind)
    limit = bounded_int(limit, field="limit", minimum=1, maximum=MAX_PAGE)
    skip = start - (start if offset is None else offset)
    chunk = list(items[skip : skip + limit + 1])
    more = len(chunk) > limit
    return Page[T](items=chunk[:limit], next_cursor=encode_cursor(kind, start + limit) if more else None)


def needed(cursor: str | None, kind: str, limit: int) -> int:
    """Return how many leading entries a store must return for this page and the next one's existence."""
    return decode_cursor(cursor, kind) + bounded_int(limit, field="limit", minimum=1, maximum=MAX_PAGE) + 1


#: The parts a keyset cursor may carry: positions and versions (bounded ints) and short texts (ids, times).
KeyPart = int | str
_MAX_TEXT = 100


def keyset_cursor(kind: str, key: Sequence[KeyPart]) -> str:
    """Return the opaque cursor of list `kind` continuing after the item whose sort key is `key`."""
    raw = json.dumps({"k": kind, "a": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def keyset_after(cursor: str | None, kind: str, shape: Sequence[type[int] | type[str]]) -> tuple[Any, ...] | None:
    """Return the sort key a keyset cursor of list `kind` continues after (None without one); refuse anything else.

    `shape` gives the type of each part (``int``: 0 to :data:`MAX_INT`; ``str``: at most 100 characters).
    """
    if cursor is None:
        return None
    key: Any = None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = data["a"] if isinstance(data, dict) and data.get("k") == kind else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(shape)
        or not all(_fits(v, t) for v, t in zip(key, shape, strict=True))
    ):
        raise ValidationError(
            "cursor is not a cursor of this list; pass the next_cursor of the previous page, or none for the first",
            field="cursor",
        )
    return tuple(key)


def cursor_time(text: str) -> datetime:
    """Return a time a keyset cursor carries (ISO-8601 with offset); a forged one is refused naming ``cursor``."""
    try:
        found: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        found = None
    if found is None or found.tzinfo is None:
        raise ValidationError(
            "cursor is not a cursor of this list; pass the next_cursor of the previous page, or none for the first",
            field="cursor",
        )
    return found


def _fits(value: object, kind: type[int] | type[str]) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT
    return isinstance(value, str) and len(value) <= _MAX_TEXT


def keyset_page(rows: Sequence[T], *, kind: str, limit: int, key: Callable[[T], Sequence[KeyPart]]) -> Page[T]:
    """Return one page of `rows` — fetched after the cursor's key with ``limit + 1`` rows — and its next cursor."""
    limit = bounded_int(limit, field="limit", minimum=1, maximum=MAX_PAGE)
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page[T](items=items, next_cursor=keyset_cursor(kind, key(items[-1])) if more and items else None)
