"""0012: an answer inserted while the question is being closed waits for the
close and is then refused, instead of landing on a closed question."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.db.helpers import as_user, make_question, make_user, set_caller


async def _wait_until_blocked(owner: asyncpg.Connection, pid: int) -> None:
    """Poll until backend ``pid`` waits on a lock (no fixed sleep decides the outcome)."""
    for _ in range(500):
        waiting = await owner.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid)
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the answer never waited for the closing transaction")


async def test_answer_waits_for_a_concurrent_close_and_is_refused(test_db, owner_conn):
    asker, answerer = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, asker)
    closer = await asyncpg.connect(test_db.app_url)
    writer = await asyncpg.connect(test_db.app_url)
    try:
        close_tx = closer.transaction()
        await close_tx.start()
        await set_caller(closer, as_user(asker))
        await closer.execute("UPDATE questions SET status = 'closed' WHERE id = $1", question)

        async def answer() -> None:
            async with writer.transaction():
                await set_caller(writer, as_user(answerer))
                await writer.execute(
                    "INSERT INTO answers (question_id, author_id, content)"
                    " VALUES ($1, auth.uid(), 'Just in time?')", question)

        task = asyncio.create_task(answer())
        await _wait_until_blocked(owner_conn, writer.get_server_pid())
        await close_tx.commit()
        with pytest.raises(asyncpg.RaiseError, match="conflict: this question is closed"):
            await task
    finally:
        await closer.close()
        await writer.close()
    assert await owner_conn.fetchval("SELECT count(*) FROM answers WHERE question_id = $1", question) == 0
    assert await owner_conn.fetchval("SELECT answers_count FROM questions WHERE id = $1", question) == 0
