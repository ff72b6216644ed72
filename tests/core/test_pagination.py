"""A cursor is client input: whatever a client puts in it is a 400 ``invalid_cursor``,
never a 500 from the value reaching ``UUID()``, ``datetime`` or the database."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from focushub.core.errors import BadRequest
from focushub.core.pagination import _list_tag, decode_cursor, encode_cursor

SCOPE = "/api/v1/things"


def forged(*values: object) -> str:
    """A cursor of this list with any JSON values (big integers included; a float too large
    for a double is written as the number text 1e309)."""
    raw = json.dumps([_list_tag(SCOPE), *values]).replace("Infinity", "1e309")
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def test_a_cursor_the_server_made_decodes_to_its_values():
    at, key = datetime(2026, 5, 1, 12, 30, tzinfo=UTC), uuid4()
    cursor = encode_cursor([at, key, 7, 0.25, "ada"], SCOPE)
    assert decode_cursor(cursor, (datetime, UUID, int, float, str), SCOPE) == [
        at, key, 7, 0.25, "ada"]
    # An integer where a float goes is the same number (JSON does not tell them apart).
    assert decode_cursor(forged(3), (float,), SCOPE) == [3.0]


@pytest.mark.parametrize(("value", "kind"), [
    (1, UUID), ({"a": 1}, UUID), (["x"], UUID), (None, UUID), ("not-a-uuid", UUID),
    (1, datetime), (None, datetime), ("2026-01-01T00:00:00", datetime),  # no offset
    ("yesterday", datetime), ("0001-01-01T00:00:00+14:00", datetime),  # before year 1 in UTC
    (2**63, int), (-(2**63) - 1, int), (True, int), (1.5, int), ("1", int),
    ("0.5", float), (True, float), (None, float), (float("inf"), float),
    (5, str), (None, str), ({"a": 1}, str), ("ada\x00", str),
])
def test_a_value_of_another_type_or_out_of_range_is_a_400(value, kind):
    with pytest.raises(BadRequest) as info:
        decode_cursor(forged(value), (kind,), SCOPE)
    assert info.value.code == "invalid_cursor"


def test_the_limits_of_a_64_bit_column_are_accepted():
    assert decode_cursor(forged(2**63 - 1), (int,), SCOPE) == [2**63 - 1]
    assert decode_cursor(forged(-(2**63)), (int,), SCOPE) == [-(2**63)]
