"""One page shape for every HTTP list: ``{"items": [...], "next_cursor": "…" | null}`` with a bounded ``limit``.

A cursor is opaque to clients (base64url of the list it belongs to and where the next page starts); a cursor of
another list, or one a client made up, is refused (422), never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_int

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
