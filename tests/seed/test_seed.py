"""``focushub seed`` at scale 0.01: rows load, counters equal recounts, seeded users log in."""

from __future__ import annotations

from array import array
from datetime import UTC, datetime

import asyncpg
import pytest

from focushub.seed import SEED_PASSWORD, SeedError, recount_mismatches, seed_database
from focushub.seed.generate import CHUNK_ROWS, counts_for, generate
from focushub.seed.load import LOAD_ORDER


async def test_scale_001_loads_with_exact_counters(test_db, owner_conn: asyncpg.Connection) -> None:
    report = await seed_database(test_db.owner_url, scale=0.01, seed=7)

    expected = counts_for(0.01)
    for table in ("users", "posts", "questions", "answers", "comments", "votes"):
        assert await owner_conn.fetchval(f"SELECT count(*) FROM {table}") == expected[table]
        assert report.rows[table] == expected[table]
    assert await owner_conn.fetchval("SELECT count(*) FROM focushub_auth.credentials") == expected["users"]
    assert await owner_conn.fetchval("SELECT count(*) FROM followers") > 0
    # Counters were loaded, not recounted by triggers: they must still equal recounts.
    assert set(report.mismatches.values()) == {0}
    assert set((await recount_mismatches(owner_conn)).values()) == {0}
    assert await owner_conn.fetchval("SELECT count(*) FROM posts WHERE likes_count <> 0") > 0
    assert await owner_conn.fetchval("SELECT count(*) FROM comments WHERE replies_count > 0") > 0
    # Generated columns were computed; dropped secondary indexes are back.
    assert await owner_conn.fetchval("SELECT count(*) FROM posts WHERE search_vector IS NULL") == 0
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_posts_search'"
    ) == 1
    # No trigger fired: no notifications were written.
    assert await owner_conn.fetchval("SELECT count(*) FROM notifications") == 0

    # A second seed refuses to mix with existing data.
    with pytest.raises(SeedError):
        await seed_database(test_db.owner_url, scale=0.01, seed=7)


async def test_seeded_user_logs_in(test_db, client, owner_conn: asyncpg.Connection) -> None:
    await seed_database(test_db.owner_url, scale=0.01, seed=3, check=False)
    email = await owner_conn.fetchval(
        "SELECT email FROM users WHERE is_active ORDER BY username LIMIT 1"
    )
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": SEED_PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


def _all_rows(scale: float, seed: int) -> dict[str, list[tuple]]:
    anchor = datetime(2025, 1, 1, tzinfo=UTC)
    data = generate(scale, seed, anchor, "h")
    return {table: list(data.records(table)) for table in LOAD_ORDER}


def test_same_seed_same_rows() -> None:
    a = _all_rows(0.005, 11)
    assert a == _all_rows(0.005, 11)
    assert a != _all_rows(0.005, 12)
    assert all(a[table] for table in LOAD_ORDER)


def test_rows_come_in_bounded_chunks() -> None:
    """Rows are handed out in chunks of at most CHUNK_ROWS, whatever the table's size,
    and the plan kept between chunks holds arrays of numbers, never rows."""
    data = generate(0.05, 5, datetime(2025, 1, 1, tzinfo=UTC), "h")
    assert all(isinstance(v, (array, bytearray)) or k in {"pools", "id", "rows", "n", "cat_cum"}
               for k, v in vars(data).items() if not isinstance(v, (int, float, str, datetime)))
    sizes = [len(chunk) for chunk in data.chunks("comments")]
    assert sum(sizes) == counts_for(0.05)["comments"] > 4 * CHUNK_ROWS
    assert max(sizes) == CHUNK_ROWS
    assert max(len(chunk) for chunk in data.chunks("votes")) <= CHUNK_ROWS
    assert data.rows["votes"] == counts_for(0.05)["votes"]
