"""0010 in SQL: the stored trending score, its rounding and who may write it."""

from __future__ import annotations

from tests.db.helpers import acting_as, as_user, expect_error, make_post, make_user

SCORE = "SELECT public.trending_score($1, $2, timestamptz '2026-01-01 00:00:00+00')"


async def test_activity_is_rounded_to_tenths_and_time_is_exact(owner_conn):
    base = 365 * 86400 / 72000  # 2026-01-01 is 365 days after 2025-01-01
    assert await owner_conn.fetchval(SCORE, 0, 0) == base
    assert await owner_conn.fetchval(SCORE, 10, 0) == base + 1.0
    # log10(11) = 1.04 and log10(12) = 1.08 round to 1.0 and 1.1: 11 leaves the score as it was.
    assert await owner_conn.fetchval(SCORE, 11, 0) == base + 1.0
    assert await owner_conn.fetchval(SCORE, 12, 0) == base + 1.1
    assert await owner_conn.fetchval(SCORE, 0, 50) == base + 2.0  # replies count twice
    assert await owner_conn.fetchval(SCORE, -100, 0) == base - 2.0  # net downvotes sink
    # No integer overflow at the counters' limits.
    assert await owner_conn.fetchval(SCORE, 2**31 - 1, 2**31 - 1) > base + 9


async def test_the_column_follows_the_counters_and_nobody_writes_it(app_conn, owner_conn):
    alice = await make_user(owner_conn)
    post = await make_post(owner_conn, alice)
    before = await owner_conn.fetchval("SELECT trending_score FROM posts WHERE id = $1", post)
    await owner_conn.execute("UPDATE posts SET likes_count = 10 WHERE id = $1", post)
    after = await owner_conn.fetchval("SELECT trending_score FROM posts WHERE id = $1", post)
    assert after == before + 1.0
    async with acting_as(app_conn, as_user(alice)) as c:
        await expect_error(c, "428C9", "UPDATE posts SET trending_score = 1e9 WHERE id = $1", post)
