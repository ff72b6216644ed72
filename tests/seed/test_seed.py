"""``focushub seed`` at scale 0.01: rows load, counters equal recounts, seeded users log in."""

from __future__ import annotations

import json
import logging
from array import array
from datetime import UTC, datetime

import asyncpg
import pytest

from focushub.seed import SEED_PASSWORD, SeedError, recount_mismatches, seed_database
from focushub.seed.generate import CHUNK_ROWS, COLUMNS, counts_for, generate
from focushub.seed.load import CONTENT_ORDER, LOAD_ORDER


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
    # AI answers carry a model's snapshot: three cited sources that exist, one only given.
    snapshots = await owner_conn.fetch("SELECT citations FROM ai_answers")
    assert snapshots and all(len(json.loads(s["citations"])) == 4 for s in snapshots)
    entries = json.loads(snapshots[0]["citations"])
    assert [e.get("cited", True) for e in entries] == [True, True, True, False]
    for e in entries:
        table = {"answer": "answers", "post": "posts"}[e["type"]]
        assert await owner_conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1::uuid",
                                         e["id"]) == 1
    # No trigger fired: no notifications were written.
    assert await owner_conn.fetchval("SELECT count(*) FROM notifications") == 0

    # The recount sees a counter that is off.
    changes = owner_conn.transaction()
    await changes.start()
    await owner_conn.execute("SET LOCAL session_replication_role = replica")
    await owner_conn.execute("UPDATE posts SET likes_count = likes_count + 1"
                             " WHERE id = (SELECT id FROM posts ORDER BY id LIMIT 1)")
    await owner_conn.execute("UPDATE questions SET views_count = views_count + 2"
                             " WHERE id = (SELECT id FROM questions ORDER BY id DESC LIMIT 1)")
    found = await recount_mismatches(owner_conn)
    await changes.rollback()
    assert found == {**{k: 0 for k in found}, "posts_likes_count": 1, "questions_views_count": 1}

    # A second seed refuses to mix with existing data, and leaves it as it was.
    with pytest.raises(SeedError):
        await seed_database(test_db.owner_url, scale=0.01, seed=7)
    for table in ("users", "posts", "votes"):
        assert await owner_conn.fetchval(f"SELECT count(*) FROM {table}") == expected[table]


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


# Tables a load fills, with a digest of their rows that does not depend on the load time
# (timestamps move with it) nor on the order rows were written in.
_DIGESTS = {
    "users": "md5(string_agg(id::text || username || role, ',' ORDER BY id))",
    "posts": "md5(string_agg(id::text || author_id || title || md5(content) || likes_count"
             " || comments_count || search_vector::text, ',' ORDER BY id))",
    "comments": "md5(string_agg(id::text || post_id || coalesce(parent_id::text, '-')"
                " || likes_count || replies_count, ',' ORDER BY id))",
    "answers": "md5(string_agg(id::text || question_id || votes_count || is_accepted,"
               " ',' ORDER BY id))",
    "votes": "md5(string_agg(id::text || user_id || votable_id || vote_type, ',' ORDER BY id))",
    "followers": "md5(string_agg(follower_id::text || following_id, ',' ORDER BY id))",
}


async def _digests(conn: asyncpg.Connection) -> dict[str, str]:
    return {t: await conn.fetchval(f"SELECT {expr} FROM {t}") for t, expr in _DIGESTS.items()}


async def _index_definitions(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT indexdef FROM pg_indexes WHERE schemaname IN ('public', 'focushub_auth')")
    return {r["indexdef"] for r in rows}


async def test_same_seed_same_rows_whatever_the_connections(
    test_db, owner_conn: asyncpg.Connection
) -> None:
    """Tables load concurrently: how many at once changes nothing in the rows."""
    await seed_database(test_db.owner_url, scale=0.01, seed=5, check=False, jobs=1)
    one = await _digests(owner_conn)
    report = await seed_database(test_db.owner_url, scale=0.01, seed=5, reset=True, jobs=4)
    assert await _digests(owner_conn) == one
    assert set(report.mismatches.values()) == {0}
    await seed_database(test_db.owner_url, scale=0.01, seed=6, check=False, reset=True)
    assert await _digests(owner_conn) != one


@pytest.mark.parametrize("jobs", [1, 3])
async def test_failed_load_leaves_nothing_that_looks_loaded(
    test_db, owner_conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture, jobs: int
) -> None:
    """A table that cannot be completed (here a unique index that the questions break,
    rebuilt after their COPY) fails the load after other tables committed (one at a
    time, in CONTENT_ORDER; or while others are being copied): the load raises, leaves
    no users and no content, and every index is still there."""
    assert CONTENT_ORDER.index("questions") > CONTENT_ORDER.index("posts")
    await owner_conn.execute("CREATE UNIQUE INDEX seed_test_one_per_category ON questions (category)")
    try:
        indexes = await _index_definitions(owner_conn)
        with caplog.at_level(logging.INFO, logger="focushub.seed"), \
                pytest.raises(asyncpg.UniqueViolationError):
            await seed_database(test_db.owner_url, scale=0.01, seed=7, jobs=jobs)
        if jobs == 1:
            assert "rows into posts" in caplog.text and "rows into questions" in caplog.text
        assert "emptying what it committed" in caplog.text
        for table in LOAD_ORDER:
            assert await owner_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        assert await _index_definitions(owner_conn) == indexes
    finally:
        await owner_conn.execute("DROP INDEX IF EXISTS seed_test_one_per_category")
    # Nothing is left over: a new load needs no --reset and counts exactly.
    await seed_database(test_db.owner_url, scale=0.01, seed=7, check=False)
    assert await owner_conn.fetchval("SELECT count(*) FROM questions") == counts_for(0.01)["questions"]


async def test_leftovers_of_a_killed_load_are_emptied_first(
    test_db, owner_conn: asyncpg.Connection
) -> None:
    """A load killed before its users committed leaves content without users: no
    consumer takes that for a load, and the next load empties it instead of refusing."""
    data = generate(0.01, 9, datetime(2025, 1, 1, tzinfo=UTC), "h")
    async with owner_conn.transaction():
        await owner_conn.execute("SET LOCAL session_replication_role = replica")
        await owner_conn.copy_records_to_table(
            "votes", columns=list(COLUMNS["votes"]), records=data.records("votes"))
    assert await owner_conn.fetchval("SELECT count(*) FROM users") == 0
    report = await seed_database(test_db.owner_url, scale=0.01, seed=9)
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == counts_for(0.01)["votes"]
    assert set(report.mismatches.values()) == {0}
