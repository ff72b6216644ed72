"""Keyset (cursor) pagination: opaque cursors that encode the sort key of the last row.

A cursor is base64url(JSON list of key values). Clients treat it as opaque; a cursor
that does not decode, or has the wrong shape, is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel

from focushub.core.errors import BadRequest

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        return value

    raw = orjson.dumps([plain(v) for v in values])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, types: Sequence[type]) -> list[Any]:
    """Decode ``cursor`` into values of ``types`` (datetime, UUID, int, float, str)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("shape")
        out: list[Any] = []
        for value, kind in zip(values, types, strict=True):
            if kind is datetime:
                out.append(datetime.fromisoformat(value))
            elif kind is UUID:
                out.append(UUID(value))
            elif kind is float:
                out.append(float(value))
            elif kind is int:
                if not isinstance(value, int):
                    raise ValueError("int")
                out.append(value)
            else:
                out.append(str(value))
        return out
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadRequest("The cursor is invalid", code="invalid_cursor") from None


def page_of(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """Split ``limit + 1`` fetched rows into the page and the cursor of the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None
