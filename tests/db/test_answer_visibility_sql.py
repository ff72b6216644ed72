"""Answers follow their question's visibility, and the functions that run as their owner
refuse what the caller may not see (0046)."""

from __future__ import annotations

import itertools

from tests.db.helpers import (
    RAISED,
    acting_as,
    as_user,
    expect_error,
    make_answer,
    make_question,
    make_user,
)

ACCEPT = "SELECT public.accept_answer($1)"
UNACCEPT = "SELECT public.unaccept_answer($1)"
RATE = "SELECT * FROM public.rate_ai_answer($1, $2)"


async def test_the_answers_of_a_question_one_cannot_see_are_not_listed(app_conn, owner_conn):
    asker, answerer, reader = [await make_user(owner_conn) for _ in range(3)]
    question = await make_question(owner_conn, asker)
    answer = await make_answer(owner_conn, question, answerer)
    by_question = "SELECT count(*) FROM answers WHERE question_id = $1"
    by_id = "SELECT count(*) FROM answers WHERE id = $1"
    async with acting_as(app_conn, as_user(reader)):
        assert await app_conn.fetchval(by_question, question) == 1
    await owner_conn.execute("UPDATE questions SET hidden_at = now() WHERE id = $1", question)
    async with acting_as(app_conn, as_user(reader)):
        assert await app_conn.fetchval(by_question, question) == 0
        assert await app_conn.fetchval(by_id, answer) == 0
    async with acting_as(app_conn, as_user(answerer)):  # an answer's author, not the asker's
        assert await app_conn.fetchval(by_id, answer) == 0
    async with acting_as(app_conn, as_user(asker)):  # the hidden question's author sees it
        assert await app_conn.fetchval(by_id, answer) == 1
    await owner_conn.execute("UPDATE questions SET hidden_at = NULL WHERE id = $1", question)
    # The asker blocked the reader: the question, and so its answers, are gone for the reader.
    await owner_conn.execute(
        "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)", asker, reader)
    async with acting_as(app_conn, as_user(reader)):
        assert await app_conn.fetchval(by_question, question) == 0


async def test_the_visibility_check_of_owner_functions_agrees_with_the_policies(
        app_conn, owner_conn):
    """answer_visible_to_caller() and question_visible_to_caller() restate the SELECT
    policies of answers and questions for
    functions that run as their owner. For every case the policies tell apart (either row
    hidden, a block either way between the caller and either author, the caller an author
    or an administrator), it must say what a SELECT as the caller sees."""
    asker, answerer, reader = [await make_user(owner_conn) for _ in range(3)]
    admin = await make_user(owner_conn, role="admin")
    question = await make_question(owner_conn, asker)
    answer = await make_answer(owner_conn, question, answerer)
    callers = [asker, answerer, reader, admin]
    blocks = [None, (asker, reader), (reader, answerer), (answerer, asker), (admin, answerer)]
    checked = 0
    for q_hidden, a_hidden, block in itertools.product((False, True), (False, True), blocks):
        await owner_conn.execute("DELETE FROM user_blocks")
        await owner_conn.execute(
            "UPDATE questions SET hidden_at = CASE WHEN $2 THEN now() END WHERE id = $1",
            question, q_hidden)
        await owner_conn.execute(
            "UPDATE answers SET hidden_at = CASE WHEN $2 THEN now() END WHERE id = $1",
            answer, a_hidden)
        if block:
            await owner_conn.execute(
                "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)", *block)
        for caller in callers:
            async with acting_as(app_conn, as_user(caller)):
                seen = await app_conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM answers WHERE id = $1)", answer)
                said = await app_conn.fetchval(
                    "SELECT public.answer_visible_to_caller($1)", answer)
                question_seen = await app_conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM questions WHERE id = $1)", question)
                question_said = await app_conn.fetchval(
                    "SELECT public.question_visible_to_caller($1)", question)
            case = (q_hidden, a_hidden, block, callers.index(caller))
            assert (said, question_said) == (seen, question_seen), case
            checked += 1
    assert checked == 2 * 2 * len(blocks) * len(callers)


async def test_accepting_what_the_asker_cannot_see_is_not_found(app_conn, owner_conn):
    asker, answerer, other = [await make_user(owner_conn) for _ in range(3)]
    question = await make_question(owner_conn, asker)
    answer = await make_answer(owner_conn, question, answerer)
    accepted = "SELECT is_accepted FROM answers WHERE id = $1"
    # Accepted first, then hidden by a moderator: the asker can neither accept it again nor
    # withdraw it (they do not see it); another answer can still replace it.
    async with acting_as(app_conn, as_user(asker)):
        await app_conn.execute(ACCEPT, answer)
        assert await app_conn.fetchval(accepted, answer) is True
    await owner_conn.execute("UPDATE answers SET is_accepted = true WHERE id = $1", answer)
    await owner_conn.execute("UPDATE answers SET hidden_at = now() WHERE id = $1", answer)
    async with acting_as(app_conn, as_user(asker)):
        for sql in (ACCEPT, UNACCEPT):
            await expect_error(app_conn, RAISED, sql, answer, message="not_found:")
        replacement = await owner_conn.fetchval(
            "INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'Another')"
            " RETURNING id", question, other)
        await app_conn.execute(ACCEPT, replacement)
        assert await app_conn.fetchval(accepted, replacement) is True
    assert await owner_conn.fetchval(accepted, answer) is True  # rolled back: still as it was
    # Someone who may not see the answer learns nothing more than that: 404, not 403.
    await owner_conn.execute("UPDATE answers SET hidden_at = NULL WHERE id = $1", answer)
    await owner_conn.execute("UPDATE questions SET hidden_at = now() WHERE id = $1", question)
    async with acting_as(app_conn, as_user(other)):
        await expect_error(app_conn, RAISED, ACCEPT, answer, message="not_found:")
    await owner_conn.execute("UPDATE questions SET hidden_at = NULL WHERE id = $1", question)
    async with acting_as(app_conn, as_user(other)):
        await expect_error(app_conn, RAISED, ACCEPT, answer, message="forbidden:")
    # The asker blocked the answerer after the answer was written.
    await owner_conn.execute(
        "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)", asker, answerer)
    async with acting_as(app_conn, as_user(asker)):
        await expect_error(app_conn, RAISED, UNACCEPT, answer, message="not_found:")


async def test_the_bodies_are_callable_only_through_the_checks(app_conn, owner_conn):
    asker, answerer = await make_user(owner_conn), await make_user(owner_conn)
    answer = await make_answer(owner_conn, await make_question(owner_conn, asker), answerer)
    async with acting_as(app_conn, as_user(asker)):
        for name in ("accept_answer_checked", "unaccept_answer_checked"):
            await expect_error(app_conn, "42501", f"SELECT public.{name}($1)", answer)


async def test_an_ai_answer_the_caller_cannot_see_is_not_found(app_conn, owner_conn):
    asker, reader = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, asker)
    ai = await owner_conn.fetchval(
        "INSERT INTO ai_answers (question_id, answer_text) VALUES ($1, 'x') RETURNING id",
        question)
    async with acting_as(app_conn, as_user(reader)):
        await expect_error(app_conn, RAISED, RATE, ai, 4, message="forbidden:")
    await owner_conn.execute("UPDATE questions SET hidden_at = now() WHERE id = $1", question)
    async with acting_as(app_conn, as_user(reader)):
        await expect_error(app_conn, RAISED, RATE, ai, 4, message="not_found:")
    async with acting_as(app_conn, as_user(asker)):  # the author still sees the question
        assert (await app_conn.fetchrow(RATE, ai, 5))["user_feedback_rating"] == 5


async def test_a_hidden_ai_answer_is_not_rated_but_by_an_admin(app_conn, owner_conn):
    asker = await make_user(owner_conn, role="admin")
    plain_asker = await make_user(owner_conn)
    for who in (plain_asker, asker):
        question = await make_question(owner_conn, who)
        ai = await owner_conn.fetchval(
            "INSERT INTO ai_answers (question_id, answer_text, hidden_at) VALUES ($1, 'x', now())"
            " RETURNING id", question)
        async with acting_as(app_conn, as_user(who)):
            if who == plain_asker:
                await expect_error(app_conn, RAISED, RATE, ai, 4, message="not_found:")
            else:
                assert (await app_conn.fetchrow(RATE, ai, 4))["user_feedback_rating"] == 4
