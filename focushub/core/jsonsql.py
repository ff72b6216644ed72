"""Hot reads: response bodies built by PostgreSQL as JSON and sent as they are.

A hot read (see CONTRIBUTING.md, "Hot paths") is one statement in a direct transaction
(``Runtime.direct_transaction``) whose result is the response body, or a page's items:
no rows are turned into Python objects, no Pydantic model is built or validated, and the
route returns :class:`JSONBytes` (its ``response_model`` still documents the body, and
``tests/api/test_openapi_bodies.py`` checks real bodies against that document).

The fragments here make PostgreSQL write what Pydantic would: :func:`json_time` writes a
``timestamptz`` as Pydantic writes an aware ``datetime`` (``Z`` for UTC, microseconds only
when there are any), and :func:`json_page_sql` / :func:`page_json` make a ``Page`` whose
``next_cursor`` is the one ``core.pagination.page_of`` makes. Everything else maps by
itself: ``json_build_object`` keeps the order of its keys (the schema's field order is
written out), uuid and text become strings, arrays lists, NULL null. Two differences are
only of spelling: a float with no fraction is written ``3`` (Pydantic: ``3.0``), and
PostgreSQL escapes control characters as ``\\u001f`` where Pydantic may write ``\\u001F``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from focushub.core.pagination import encode_cursor


class JSONBytes(Response):
    """A JSON body that is already encoded (built by PostgreSQL)."""

    media_type = "application/json"


def model_json(model: BaseModel, status_code: int = 200) -> JSONBytes:
    """A hot write's answer: the model its service built (and so validated) from the
    database's row, encoded once. Returned as a model, FastAPI would validate it a second
    time against the route's ``response_model`` before encoding it."""
    return JSONBytes(model.__pydantic_serializer__.to_json(model), status_code=status_code)


def json_time(expr: str) -> str:
    """``expr`` (a ``timestamptz``) as the JSON string Pydantic writes for it, or NULL."""
    # The colons are quoted text of the pattern, never ``:MI``: bench/run replays statements
    # through pgbench, which would read ``:MI`` as one of its variables.
    return (
        f"to_char(({expr}) AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {expr}) = {expr}"
        """ THEN 'YYYY-MM-DD"T"HH24":"MI":"SS"Z"' ELSE 'YYYY-MM-DD"T"HH24":"MI":"SS.US"Z"' END)"""
    )


def json_page_sql(rows_sql: str, *, item: str, order: str, keys: Sequence[str],
                  shown: str | None = None) -> str:
    """A page of ``rows_sql`` as JSON, for :func:`page_json`.

    ``rows_sql`` returns up to ``:limit`` rows, one more than the page (``page_of``'s
    convention); ``item`` is the JSON of one row and ``order`` its order, both over the
    alias ``r``; ``keys`` are the cursor's key expressions over ``r``. Binds
    ``:page_size`` (the page's length) besides the parameters of ``rows_sql``. The one row
    returned has ``items`` (a JSON array of the first ``:page_size`` items, as text),
    ``more`` (whether a next page exists) and ``key_0``… (the key of the page's last item).
    ``shown``, a condition over ``r``, leaves out of ``items`` the rows that fail it while
    they keep their place in the page (its length, ``more`` and the cursor).
    """
    key_columns = "".join(
        f", (SELECT {k} FROM numbered r WHERE r.n = :page_size) AS key_{i}"
        for i, k in enumerate(keys)
    )
    only_shown = f" AND ({shown})" if shown is not None else ""
    return f"""
        WITH rows AS MATERIALIZED ({rows_sql}),
        numbered AS (SELECT r.*, row_number() OVER (ORDER BY {order}) AS n FROM rows r)
        SELECT coalesce((SELECT json_agg({item} ORDER BY r.n) FROM numbered r
                         WHERE r.n <= :page_size{only_shown}), '[]')::text AS items,
               (SELECT count(*) FROM numbered) > :page_size AS more{key_columns}
    """


def next_cursor(row: Mapping[str, Any], n_keys: int, scope: str | None = None) -> str | None:
    """The next page's cursor from the columns of :func:`json_page_sql` in ``row``
    (``scope`` as for ``page_of``)."""
    return (encode_cursor([row[f"key_{i}"] for i in range(n_keys)], scope)
            if row["more"] else None)


def page_json(row: Mapping[str, Any], n_keys: int, scope: str | None = None) -> bytes:
    """The body of a ``Page`` from the row of :func:`json_page_sql`."""
    return (b'{"items":' + row["items"].encode() + b',"next_cursor":'
            + orjson.dumps(next_cursor(row, n_keys, scope)) + b"}")


def with_fields(body: str, **fields: Any) -> bytes:
    """The JSON object ``body`` with ``fields`` added at its end (values Python makes, such
    as an embedded page's cursor)."""
    extra = b"".join(b',"' + name.encode() + b'":' + orjson.dumps(value)
                     for name, value in fields.items())
    return body.encode()[:-1] + extra + b"}"
