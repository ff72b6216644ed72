"""Keyset (cursor) pagination: opaque cursors that encode the sort key of the last row.

A cursor is base64url(JSON list: a tag of the list it came from, then the key values).
The tag is a short hash of the request path that made it (``/api/v1/posts``,
``/api/v1/posts/<id>/comments``), so a cursor from one list is refused by another
instead of silently paging it from a foreign position. Clients treat cursors as opaque;
one that does not decode, has the wrong shape or another list's tag is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import orjson
from fastapi import Query
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from focushub.core import observability
from focushub.core.errors import BadRequest

T = TypeVar("T")


MAX_CURSOR_LENGTH = 500  # far more than any cursor the server makes


def _cursor_text(value: object) -> object:
    """Empty means none. A cursor too long to be one of ours is refused as any other cursor
    we did not make is (400 ``invalid_cursor``), not as a malformed request (422): raised as
    an ``AppError``, which Pydantic passes on instead of reporting a validation error, before
    the length constraint below (which only documents the limit) is checked."""
    if isinstance(value, str) and len(value) > MAX_CURSOR_LENGTH:
        raise BadRequest("The cursor is invalid", code="invalid_cursor")
    return value or None


# A list's ``cursor`` parameter: the ``next_cursor`` of the previous page; empty means none.
_CursorText = Annotated[str, StringConstraints(max_length=MAX_CURSOR_LENGTH)]
Cursor = Annotated[_CursorText | None, BeforeValidator(_cursor_text),
                   Field(description="next_cursor of the previous page")]
# The same as a query parameter of a route function.
CursorQuery = Annotated[_CursorText | None, BeforeValidator(_cursor_text),
                        Query(description="next_cursor of the previous page")]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def _list_tag(scope: str | None) -> str:
    name = scope if scope is not None else observability.request_path.get()
    return hashlib.blake2b(name.encode(), digest_size=4).hexdigest()


def encode_cursor(values: Sequence[Any], scope: str | None = None) -> str:
    """``scope`` names the list when more than one path pages it (a first page embedded in
    another response, say); by default the list is the request's path."""
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        return value

    raw = orjson.dumps([_list_tag(scope), *(plain(v) for v in values)])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, types: Sequence[type], scope: str | None = None) -> list[Any]:
    """Decode ``cursor`` into values of ``types`` (datetime, UUID, int, float, str); 400
    ``invalid_cursor`` for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types) + 1:
            raise ValueError("shape")
        tag, *values = values
        if tag != _list_tag(scope):
            raise ValueError("another list's cursor")
        return [_cursor_value(value, kind) for value, kind in zip(values, types, strict=True)]
    except (ValueError, TypeError, OverflowError, binascii.Error, orjson.JSONDecodeError):
        raise BadRequest("The cursor is invalid", code="invalid_cursor") from None


_INT64 = range(-(2**63), 2**63)


def _cursor_value(value: Any, kind: type) -> Any:
    """One key value of a decoded cursor, of exactly its JSON type and within what the
    database's column holds (a cursor is client input: anything else is a 400)."""
    if kind is datetime:
        if not isinstance(value, str):
            raise TypeError("datetime")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a time without its offset")
        # In UTC, as the database compares it: a time at the edge of the calendar with an
        # offset (0001-01-01T00:00+14:00) is out of range there (OverflowError).
        return moment.astimezone(UTC)
    if kind is UUID:
        if not isinstance(value, str):
            raise TypeError("uuid")
        return UUID(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise TypeError("float")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value not in _INT64:
            raise TypeError("int")
        return value
    if not isinstance(value, str):
        raise TypeError("str")
    if "\x00" in value:
        raise ValueError("a NUL, which no text column holds")
    return value


def page_of(rows: list[Any], limit: int, key: Any,
            scope: str | None = None) -> tuple[list[Any], str | None]:
    """Split ``limit + 1`` fetched rows into the page and the cursor of the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key(rows[-1]), scope)
    return rows, None
