"""The ``questions.prune_views`` job deletes view rows that can no longer matter."""

from __future__ import annotations

from tests.api.conftest import make_user
from tests.api.factories_qa import make_question
from tests.conftest import run_task


async def test_views_of_days_before_yesterday_are_pruned(client, test_db, owner_conn):
    alice = await make_user(client)
    question = await make_question(client, alice)
    await owner_conn.execute(
        "INSERT INTO question_views (question_id, viewer_key, day) SELECT $1::uuid, 'v' || d, "
        " (now() AT TIME ZONE 'UTC')::date - d FROM generate_series(0, 4) d", question["id"])
    await run_task(test_db, "questions.prune_views", timestamp=0)
    kept = await owner_conn.fetch("SELECT viewer_key FROM question_views ORDER BY viewer_key")
    assert [r["viewer_key"] for r in kept] == ["v0", "v1"]  # today and yesterday
    views = await owner_conn.fetchval("SELECT views_count FROM questions WHERE id = $1::uuid",
                                      question["id"])
    assert views == 0  # pruning never touches the counter
