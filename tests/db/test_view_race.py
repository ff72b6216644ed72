"""Views count once even when two requests of one viewer truly overlap (a held transaction)."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.db.helpers import as_user, make_question, make_user, set_caller


async def test_a_second_view_waits_for_the_first_and_is_not_counted(test_db, owner_conn):
    author, viewer = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, author)
    first = await asyncpg.connect(test_db.app_url)
    second = await asyncpg.connect(test_db.app_url)
    try:
        tx = first.transaction()
        await tx.start()
        await set_caller(first, as_user(viewer))
        assert await first.fetchval("SELECT public.record_question_view($1, '')", question) is True

        async def overlapping() -> bool:
            async with second.transaction():
                await set_caller(second, as_user(viewer))
                return await second.fetchval("SELECT public.record_question_view($1, '')",
                                             question)

        racing = asyncio.create_task(overlapping())
        await asyncio.sleep(0.3)
        assert not racing.done()  # it waits on the first view's row, not on a stale check
        await tx.commit()
        assert await asyncio.wait_for(racing, 10) is False
    finally:
        await first.close()
        await second.close()
    assert await owner_conn.fetchval("SELECT views_count FROM questions WHERE id = $1",
                                     question) == 1
