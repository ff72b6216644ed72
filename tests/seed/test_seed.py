"""``focushub seed`` at scale 0.01: rows load, counters equal recounts, seeded users log in."""

from __future__ import annotations

import asyncpg
import pytest

from focushub.seed import SEED_PASSWORD, SeedError, recount_mismatches, seed_database
from focushub.seed.generate import counts_for


async def test_scale_001_loads_with_exact_counters(test_db, owner_conn: asyncpg.Connection) -> None:
    report = await seed_database(test_db.owner_url, scale=0.01, seed=7)

    expected = counts_for(0.01)
    for table in ("users", "posts", "questions", "answers", "comments", "votes"):
        assert await owner_conn.fetchval(f"SELECT count(*) FROM {table}") == expected[table]
        assert report.rows[table] == expected[table]
    assert await owner_conn.fetchval("SELECT count(*) FROM auth.credentials") == expected["users"]
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


def test_same_seed_same_rows() -> None:
    from datetime import UTC, datetime

    from focushub.seed.generate import generate

    anchor = datetime(2025, 1, 1, tzinfo=UTC)
    a = generate(0.005, 11, anchor, "h")
    b = generate(0.005, 11, anchor, "h")
    assert a.rows == b.rows
