"""Who may do what, asked in SQL as anon, as a row's owner, as someone else and as an admin.

Every check states the concrete outcome: an error with its SQLSTATE (42501 for
a missing privilege or a failed RLS WITH CHECK, 23514 for a CHECK, P0001 with
our message code for a trigger's refusal), or the number of rows a statement
saw or changed. All writes happen in transactions that are rolled back.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    CHECK_VIOLATION,
    RAISED,
    SERVICE,
    UNIQUE_VIOLATION,
    acting_as,
    affected,
    as_user,
    expect_error,
    make_answer,
    make_comment,
    make_message,
    make_notification,
    make_post,
    make_question,
    make_resource,
    make_room,
    make_user,
    make_vote,
    set_caller,
)

ALL_TABLES = (
    "users",
    "posts",
    "comments",
    "questions",
    "ai_answers",
    "answers",
    "chat_rooms",
    "chat_messages",
    "resources",
    "votes",
    "followers",
    "chat_room_participants",
    "notifications",
)


@pytest.fixture
async def world(owner_conn):
    """Alice owns content; Bob is another user; Carol shares a chat room with Alice; Ada is admin."""
    o = owner_conn
    w = SimpleNamespace()
    w.alice = await make_user(o, username="alice")
    w.bob = await make_user(o, username="bob")
    w.carol = await make_user(o, username="carol")
    w.admin = await make_user(o, username="ada", role="admin")
    w.post = await make_post(o, w.alice)
    w.draft = await make_post(o, w.alice, published=False)
    w.bob_post = await make_post(o, w.bob)
    w.comment = await make_comment(o, w.post, w.alice)
    w.draft_comment = await make_comment(o, w.draft, w.alice)
    w.bob_comment = await make_comment(o, w.bob_post, w.bob)
    w.question = await make_question(o, w.alice)
    w.answer = await make_answer(o, w.question, w.alice)
    w.bob_answer = await make_answer(o, w.question, w.bob)
    w.ai_answer = await o.fetchval(
        "INSERT INTO ai_answers (question_id, answer_text, confidence_score, model_used)"
        " VALUES ($1, 'Use a LEFT JOIN', 0.80, 'llama3-8b-8192') RETURNING id",
        w.question,
    )
    w.resource = await make_resource(o, w.alice)
    w.private_resource = await make_resource(o, w.alice, public=False)
    w.room = await make_room(o, w.alice, [w.carol])
    w.alice_msg = await make_message(o, w.room, w.alice)
    w.carol_msg = await make_message(o, w.room, w.carol)
    w.notification = await make_notification(o, w.alice)
    w.follow = await o.fetchval(
        "INSERT INTO followers (follower_id, following_id) VALUES ($1, $2) RETURNING id",
        w.carol,
        w.alice,
    )
    w.carol_vote = await make_vote(o, w.carol, "post", w.post)
    return w


# ------------------------------------------------------------------ basics


async def test_login_role_without_a_role_switch_can_do_nothing(app_conn, world):
    for sql in (
        "SELECT id FROM posts",
        "SELECT id FROM users",
        "SELECT * FROM current_user_account()",
    ):
        await expect_error(app_conn, ACCESS_DENIED, sql)


async def test_anon_can_write_nothing(app_conn, world):
    async with acting_as(app_conn, ANON) as c:
        for table in ALL_TABLES:
            await expect_error(c, ACCESS_DENIED, f"INSERT INTO {table} DEFAULT VALUES")
            await expect_error(c, ACCESS_DENIED, f"UPDATE {table} SET id = id")
            await expect_error(c, ACCESS_DENIED, f"DELETE FROM {table}")
        for fn in (
            "SELECT * FROM current_user_account()",
            f"SELECT admin_set_user_status('{world.alice}', 'admin')",
        ):
            await expect_error(c, ACCESS_DENIED, fn)


async def test_anon_reads_public_content_only(app_conn, world):
    w = world
    async with acting_as(app_conn, ANON) as c:
        assert {r["id"] for r in await c.fetch("SELECT id FROM posts")} == {w.post, w.bob_post}
        assert {r["id"] for r in await c.fetch("SELECT id FROM comments")} == {
            w.comment,
            w.bob_comment,
        }
        assert await c.fetchval("SELECT count(*) FROM questions") == 1
        assert await c.fetchval("SELECT count(*) FROM answers") == 2
        assert await c.fetchval("SELECT count(*) FROM ai_answers") == 1
        assert {r["id"] for r in await c.fetch("SELECT id FROM resources")} == {w.resource}
        assert await c.fetchval("SELECT count(*) FROM followers") == 1
        assert await c.fetchval("SELECT count(*) FROM users") == 4
        for table in (
            "votes",
            "notifications",
            "chat_rooms",
            "chat_messages",
            "chat_room_participants",
        ):
            await expect_error(c, ACCESS_DENIED, f"SELECT count(*) FROM {table}")


# ------------------------------------------------------------------- users


async def test_users_profile_rules(app_conn, world):
    w = world
    async with acting_as(app_conn, ANON) as c:
        for sql in (
            "SELECT email FROM users",
            "SELECT last_login FROM users",
            "SELECT * FROM users",
        ):
            await expect_error(c, ACCESS_DENIED, sql)

    async with acting_as(app_conn, as_user(w.bob)) as c:
        # Reading others' email or last login, directly or through a filter.
        await expect_error(c, ACCESS_DENIED, "SELECT email FROM users WHERE id = $1", w.alice)
        await expect_error(c, ACCESS_DENIED, "SELECT id FROM users WHERE email LIKE 'alice%'")
        await expect_error(c, ACCESS_DENIED, "SELECT last_login FROM users WHERE id = $1", w.alice)
        await expect_error(c, ACCESS_DENIED, "SELECT * FROM users")
        # Someone else's profile: invisible to UPDATE.
        assert await affected(c, "UPDATE users SET bio = 'pwned' WHERE id = $1", w.alice) == 0

    async with acting_as(app_conn, as_user(w.alice)) as c:
        me = await c.fetch("SELECT * FROM current_user_account()")
        assert len(me) == 1 and me[0]["email"] == "alice@example.org" and me[0]["id"] == w.alice
        assert me[0]["role"] == "student" and me[0]["is_active"] is True
        n = await affected(
            c,
            "UPDATE users SET full_name = 'Alice A', bio = 'SQL fan', username = 'alice_a',"
            " avatar_url = NULL WHERE id = $1",
            w.alice,
        )
        assert n == 1
        # A picture is an upload of one's own, never an outside address (0048).
        await expect_error(c, CHECK_VIOLATION, "UPDATE users SET avatar_url ="
                           " 'https://img.example.org/a.png' WHERE id = $1", w.alice)
        # Privileged columns of one's own row.
        for column, value in (
            ("role", "'admin'"),
            ("is_verified", "true"),
            ("is_active", "true"),
            ("email", "'new@example.org'"),
            ("last_login", "now()"),
            ("created_at", "now()"),
            ("updated_at", "now()"),
            ("id", "gen_random_uuid()"),
        ):
            await expect_error(
                c, ACCESS_DENIED, f"UPDATE users SET {column} = {value} WHERE id = $1", w.alice
            )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO users (email, full_name, username) VALUES ('x@example.org', 'X', 'xavier')",
        )
        await expect_error(c, ACCESS_DENIED, "DELETE FROM users WHERE id = $1", w.alice)
        await expect_error(
            c, CHECK_VIOLATION, "UPDATE users SET username = 'Not Valid' WHERE id = $1", w.alice
        )
        await expect_error(
            c, CHECK_VIOLATION, "UPDATE users SET full_name = '  ' WHERE id = $1", w.alice
        )
        await expect_error(
            c, UNIQUE_VIOLATION, "UPDATE users SET username = 'bob' WHERE id = $1", w.alice
        )


async def test_current_user_account_has_no_row_for_unknown_caller(app_conn, world):
    async with acting_as(app_conn, as_user(uuid.uuid4())) as c:
        assert await c.fetch("SELECT * FROM current_user_account()") == []


async def test_email_is_unique_regardless_of_case(owner_conn, world):
    err = await expect_error(
        owner_conn,
        UNIQUE_VIOLATION,
        "INSERT INTO users (email, full_name, username) VALUES ('ALICE@example.org', 'A', 'alice2')",
    )
    assert err.constraint_name == "users_email_lower_key"


async def test_admin_set_user_status(app_conn, owner_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w.alice)) as c:
        await expect_error(
            c, RAISED, "SELECT admin_set_user_status($1, 'admin')", w.alice, message="forbidden:"
        )
        await expect_error(
            c,
            RAISED,
            "SELECT admin_set_user_status($1, p_is_active => false)",
            w.bob,
            message="forbidden:",
        )
    async with acting_as(app_conn, as_user(w.admin)) as c:
        await c.execute("SELECT admin_set_user_status($1, p_is_active => false)", w.bob)
        await c.execute("SELECT admin_set_user_status($1, 'educator')", w.carol)
        rows = {
            r["id"]: (r["role"], r["is_active"])
            for r in await c.fetch(
                "SELECT id, role, is_active FROM users WHERE id = ANY($1)", [w.bob, w.carol]
            )
        }
        assert rows == {w.bob: ("student", False), w.carol: ("educator", True)}
        await expect_error(
            c, RAISED, "SELECT admin_set_user_status($1, 'student')", w.admin, message="conflict:"
        )
        await expect_error(
            c,
            RAISED,
            "SELECT admin_set_user_status($1, 'student')",
            uuid.uuid4(),
            message="not_found:",
        )
        assert await c.fetchval("SELECT focushub_auth.is_admin()") is True
        # Admins moderate through the function, not by writing profiles or reading emails.
        assert await affected(c, "UPDATE users SET bio = 'moderated' WHERE id = $1", w.alice) == 0
        await expect_error(
            c, ACCESS_DENIED, "UPDATE users SET role = 'student' WHERE id = $1", w.alice
        )
        await expect_error(c, ACCESS_DENIED, "SELECT email FROM users WHERE id = $1", w.alice)
    # A deactivated admin moderates nothing.
    await owner_conn.execute("UPDATE users SET is_active = false WHERE id = $1", w.admin)
    async with acting_as(app_conn, as_user(w.admin)) as c:
        assert await c.fetchval("SELECT focushub_auth.is_admin()") is False
        await expect_error(
            c, RAISED, "SELECT admin_set_user_status($1, 'admin')", w.bob, message="forbidden:"
        )
        assert await affected(c, "DELETE FROM posts WHERE id = $1", w.post) == 0


# ------------------------------------------------------------------- posts


async def test_posts(app_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w.alice)) as c:
        assert {
            r["id"] for r in await c.fetch("SELECT id FROM posts WHERE author_id = $1", w.alice)
        } == {w.post, w.draft}
        new = await c.fetchval(
            "INSERT INTO posts (author_id, title, content, category, tags, is_published)"
            " VALUES ($1, 'T', 'C', 'sql', ARRAY['a'], false) RETURNING id",
            w.alice,
        )
        assert new is not None
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO posts (author_id, title, content) VALUES ($1, 'T', 'C')",
            w.bob,
        )
        for column in ("likes_count", "comments_count"):
            await expect_error(
                c,
                ACCESS_DENIED,
                f"INSERT INTO posts (author_id, title, content, {column}) VALUES ($1, 'T', 'C', 1000)",
                w.alice,
            )
            await expect_error(
                c, ACCESS_DENIED, f"UPDATE posts SET {column} = 1000 WHERE id = $1", w.post
            )
        for column, value in (
            ("author_id", f"'{w.bob}'"),
            ("created_at", "now()"),
            ("id", "gen_random_uuid()"),
        ):
            await expect_error(
                c, ACCESS_DENIED, f"UPDATE posts SET {column} = {value} WHERE id = $1", w.post
            )
        assert (
            await affected(
                c, "UPDATE posts SET is_published = false, title = 'Hidden' WHERE id = $1", w.post
            )
            == 1
        )
        assert await affected(c, "UPDATE posts SET is_published = true WHERE id = $1", w.draft) == 1
        assert await affected(c, "DELETE FROM posts WHERE id = $1", w.post) == 1

    async with acting_as(app_conn, as_user(w.bob)) as c:
        assert await c.fetchval("SELECT count(*) FROM posts WHERE id = $1", w.draft) == 0
        assert (
            await affected(c, "UPDATE posts SET title = 'x' WHERE id = ANY($1)", [w.post, w.draft])
            == 0
        )
        assert await affected(c, "DELETE FROM posts WHERE id = ANY($1)", [w.post, w.draft]) == 0

    async with acting_as(app_conn, as_user(w.admin)) as c:
        assert await affected(c, "UPDATE posts SET title = 'x' WHERE id = $1", w.post) == 0
        assert await affected(c, "DELETE FROM posts WHERE id = $1", w.post) == 1
        # Drafts are not public content: not visible, so not moderated.
        assert await affected(c, "DELETE FROM posts WHERE id = $1", w.draft) == 0


# ---------------------------------------------------------------- comments


async def test_comments(app_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w.bob)) as c:
        # Comments are as visible as their post.
        assert await c.fetchval("SELECT count(*) FROM comments WHERE id = $1", w.draft_comment) == 0
        new = await c.fetchval(
            "INSERT INTO comments (post_id, author_id, parent_id, content) VALUES ($1, $2, $3, 'Agreed')"
            " RETURNING id",
            w.post,
            w.bob,
            w.comment,
        )
        assert new is not None
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO comments (post_id, author_id, content) VALUES ($1, $2, 'x')",
            w.post,
            w.alice,
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO comments (post_id, author_id, content) VALUES ($1, $2, 'x')",
            w.draft,
            w.bob,
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO comments (post_id, author_id, content, likes_count) VALUES ($1, $2, 'x', 1000)",
            w.post,
            w.bob,
        )
        await expect_error(
            c,
            RAISED,
            "INSERT INTO comments (post_id, author_id, parent_id, content) VALUES ($1, $2, $3, 'x')",
            w.post,
            w.bob,
            w.bob_comment,
            message="validation_error:",
        )
        await expect_error(
            c,
            CHECK_VIOLATION,
            "INSERT INTO comments (post_id, author_id, content) VALUES ($1, $2, $3)",
            w.post,
            w.bob,
            "x" * 5001,
        )
        assert (
            await affected(c, "UPDATE comments SET content = 'pwned' WHERE id = $1", w.comment) == 0
        )
        assert await affected(c, "DELETE FROM comments WHERE id = $1", w.comment) == 0

    async with acting_as(app_conn, as_user(w.alice)) as c:
        assert await c.fetchval("SELECT count(*) FROM comments WHERE id = $1", w.draft_comment) == 1
        assert (
            await affected(c, "UPDATE comments SET content = 'Edited' WHERE id = $1", w.comment)
            == 1
        )
        for column, value in (
            ("likes_count", "1000"),
            ("post_id", f"'{w.bob_post}'"),
            ("author_id", f"'{w.bob}'"),
            ("parent_id", "NULL"),
        ):
            await expect_error(
                c, ACCESS_DENIED, f"UPDATE comments SET {column} = {value} WHERE id = $1", w.comment
            )
        assert await affected(c, "DELETE FROM comments WHERE id = $1", w.comment) == 1

    async with acting_as(app_conn, as_user(w.admin)) as c:
        assert await affected(c, "UPDATE comments SET content = 'x' WHERE id = $1", w.comment) == 0
        assert await affected(c, "DELETE FROM comments WHERE id = $1", w.comment) == 1


# --------------------------------------------------------------- questions


async def test_questions(app_conn, owner_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w.alice)) as c:
        new = await c.fetchval(
            "INSERT INTO questions (author_id, title, content, category, tags)"
            " VALUES ($1, 'Q', 'Body', 'sql', ARRAY['x']) RETURNING id",
            w.alice,
        )
        assert new is not None
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO questions (author_id, title, content) VALUES ($1, 'Q', 'B')",
            w.bob,
        )
        for column, value in (
            ("votes_count", "1000"),
            ("answers_count", "1000"),
            ("views_count", "1000"),
            ("status", "'answered'"),
        ):
            await expect_error(
                c,
                ACCESS_DENIED,
                f"INSERT INTO questions (author_id, title, content, {column}) VALUES ($1, 'Q', 'B', {value})",
                w.alice,
            )
        for column in ("votes_count", "answers_count", "views_count"):
            await expect_error(
                c, ACCESS_DENIED, f"UPDATE questions SET {column} = 1000 WHERE id = $1", w.question
            )
        await expect_error(
            c, ACCESS_DENIED, "UPDATE questions SET author_id = $2 WHERE id = $1", w.question, w.bob
        )
        assert (
            await affected(
                c, "UPDATE questions SET title = 'Better title' WHERE id = $1", w.question
            )
            == 1
        )
        # Status: close and reopen by hand; 'answered' only through acceptance.
        await expect_error(
            c,
            RAISED,
            "UPDATE questions SET status = 'answered' WHERE id = $1",
            w.question,
            message="forbidden:",
        )
        assert (
            await affected(c, "UPDATE questions SET status = 'closed' WHERE id = $1", w.question)
            == 1
        )
        assert (
            await affected(c, "UPDATE questions SET status = 'open' WHERE id = $1", w.question) == 1
        )
        assert await c.fetchval("SELECT status FROM questions WHERE id = $1", w.question) == "open"
        assert await affected(c, "DELETE FROM questions WHERE id = $1", w.question) == 1

    async with acting_as(app_conn, as_user(w.bob)) as c:
        assert (
            await affected(c, "UPDATE questions SET status = 'closed' WHERE id = $1", w.question)
            == 0
        )
        assert await affected(c, "UPDATE questions SET title = 'x' WHERE id = $1", w.question) == 0
        assert await affected(c, "DELETE FROM questions WHERE id = $1", w.question) == 0

    async with acting_as(app_conn, as_user(w.admin)) as c:
        await expect_error(
            c,
            RAISED,
            "UPDATE questions SET title = 'x' WHERE id = $1",
            w.question,
            message="forbidden:",
        )
        assert (
            await affected(c, "UPDATE questions SET status = 'closed' WHERE id = $1", w.question)
            == 1
        )
        assert await affected(c, "DELETE FROM questions WHERE id = $1", w.question) == 1

    # Reopening a question that has an accepted answer makes it answered again.
    await owner_conn.execute("UPDATE answers SET is_accepted = true WHERE id = $1", w.bob_answer)
    await owner_conn.execute("UPDATE questions SET status = 'closed' WHERE id = $1", w.question)
    async with acting_as(app_conn, as_user(w.alice)) as c:
        assert (
            await affected(c, "UPDATE questions SET status = 'open' WHERE id = $1", w.question) == 1
        )
        assert (
            await c.fetchval("SELECT status FROM questions WHERE id = $1", w.question) == "answered"
        )
        await expect_error(
            c,
            RAISED,
            "UPDATE questions SET status = 'open' WHERE id = $1",
            w.question,
            message="forbidden:",
        )


# ----------------------------------------------------------------- answers


async def test_answers(app_conn, owner_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w.bob)) as c:
        new = await c.fetchval(
            "INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'Try this') RETURNING id",
            w.question,
            w.bob,
        )
        assert new is not None
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'x')",
            w.question,
            w.alice,
        )
        for column, value in (("votes_count", "1000"), ("is_accepted", "true")):
            await expect_error(
                c,
                ACCESS_DENIED,
                f"INSERT INTO answers (question_id, author_id, content, {column}) VALUES ($1, $2, 'x', {value})",
                w.question,
                w.bob,
            )
        assert (
            await affected(c, "UPDATE answers SET content = 'pwned' WHERE id = $1", w.answer) == 0
        )
        assert await affected(c, "DELETE FROM answers WHERE id = $1", w.answer) == 0

    async with acting_as(app_conn, as_user(w.alice)) as c:
        # Accepting is not a column anyone may write: not even on one's own question or answer.
        for target in (w.answer, w.bob_answer):
            await expect_error(
                c, ACCESS_DENIED, "UPDATE answers SET is_accepted = true WHERE id = $1", target
            )
        await expect_error(
            c, ACCESS_DENIED, "UPDATE answers SET votes_count = 1000 WHERE id = $1", w.answer
        )
        await expect_error(
            c, ACCESS_DENIED, "UPDATE answers SET question_id = question_id WHERE id = $1", w.answer
        )
        assert (
            await affected(c, "UPDATE answers SET content = 'Edited' WHERE id = $1", w.answer) == 1
        )
        assert await affected(c, "DELETE FROM answers WHERE id = $1", w.answer) == 1

    async with acting_as(app_conn, as_user(w.admin)) as c:
        assert await affected(c, "UPDATE answers SET content = 'x' WHERE id = $1", w.answer) == 0
        assert await affected(c, "DELETE FROM answers WHERE id = $1", w.answer) == 1

    # A closed question takes no answers.
    await owner_conn.execute("UPDATE questions SET status = 'closed' WHERE id = $1", w.question)
    async with acting_as(app_conn, as_user(w.bob)) as c:
        await expect_error(
            c,
            RAISED,
            "INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'late')",
            w.question,
            w.bob,
            message="conflict:",
        )

    # At most one accepted answer per question, whoever writes it.
    await owner_conn.execute("UPDATE answers SET is_accepted = true WHERE id = $1", w.answer)
    err = await expect_error(
        owner_conn,
        UNIQUE_VIOLATION,
        "UPDATE answers SET is_accepted = true WHERE id = $1",
        w.bob_answer,
    )
    assert err.constraint_name == "answers_one_accepted_per_question"


# -------------------------------------------------------------- ai_answers


async def test_ai_answers_are_read_only_for_users(app_conn, owner_conn, world):
    w = world
    for caller in (ANON, as_user(w.alice), as_user(w.bob), as_user(w.admin)):
        async with acting_as(app_conn, caller) as c:
            assert (
                await c.fetchval(
                    "SELECT count(*) FROM ai_answers WHERE question_id = $1", w.question
                )
                == 1
            )
            await expect_error(
                c,
                ACCESS_DENIED,
                "INSERT INTO ai_answers (question_id, answer_text) VALUES ($1, 'fake')",
                w.question,
            )
            await expect_error(
                c,
                ACCESS_DENIED,
                "UPDATE ai_answers SET answer_text = 'x' WHERE id = $1",
                w.ai_answer,
            )
            await expect_error(c, ACCESS_DENIED, "UPDATE ai_answers SET user_feedback_rating = 5")
            await expect_error(
                c, ACCESS_DENIED, "DELETE FROM ai_answers WHERE id = $1", w.ai_answer
            )
    async with acting_as(app_conn, SERVICE) as c:
        assert (
            await affected(
                c,
                "INSERT INTO ai_answers (question_id, answer_text, relevance_score) VALUES ($1, 'job', 0.5)",
                w.question,
            )
            == 1
        )
        await expect_error(
            c,
            CHECK_VIOLATION,
            "INSERT INTO ai_answers (question_id, answer_text, relevance_score) VALUES ($1, 'x', 1.5)",
            w.question,
        )
        await expect_error(
            c,
            CHECK_VIOLATION,
            # 0 attempts is a pending answer (0016); fewer is nonsense.
            "INSERT INTO ai_answers (question_id, answer_text, generation_attempts) VALUES ($1, 'x', -1)",
            w.question,
        )
        await expect_error(c, "23502", "INSERT INTO ai_answers (answer_text) VALUES ('orphan')")


# --------------------------------------------------------------- resources


async def test_resources(app_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w.alice)) as c:
        assert await c.fetchval("SELECT count(*) FROM resources WHERE author_id = $1", w.alice) == 2
        new = await c.fetchval(
            "INSERT INTO resources (author_id, title, description, file_url, file_name, file_size, file_type,"
            " category, tags, is_public) VALUES ($1, 'Notes', NULL, 's3://b/n.txt', 'n.txt', 10, 'text/plain',"
            " 'misc', ARRAY['a'], false) RETURNING id",
            w.alice,
        )
        assert new is not None
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO resources (author_id, title, file_url, file_name, file_size, file_type)"
            " VALUES ($1, 'T', 'u', 'n', 1, 't')",
            w.bob,
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO resources (author_id, title, file_url, file_name, file_size, file_type, downloads_count)"
            " VALUES ($1, 'T', 'u', 'n', 1, 't', 1000)",
            w.alice,
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "UPDATE resources SET downloads_count = 1000 WHERE id = $1",
            w.resource,
        )
        await expect_error(
            c, ACCESS_DENIED, "UPDATE resources SET author_id = $2 WHERE id = $1", w.resource, w.bob
        )
        assert (
            await affected(
                c,
                "UPDATE resources SET description = 'd', is_public = false WHERE id = $1",
                w.resource,
            )
            == 1
        )
        assert await affected(c, "DELETE FROM resources WHERE id = $1", w.private_resource) == 1

    async with acting_as(app_conn, as_user(w.bob)) as c:
        assert (
            await c.fetchval("SELECT count(*) FROM resources WHERE id = $1", w.private_resource)
            == 0
        )
        assert await affected(c, "UPDATE resources SET title = 'x' WHERE id = $1", w.resource) == 0
        assert await affected(c, "DELETE FROM resources WHERE id = $1", w.resource) == 0

    async with acting_as(app_conn, as_user(w.admin)) as c:
        assert await affected(c, "UPDATE resources SET title = 'x' WHERE id = $1", w.resource) == 0
        assert await affected(c, "DELETE FROM resources WHERE id = $1", w.resource) == 1


# ------------------------------------------------------------------- votes


async def test_votes(app_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w.bob)) as c:
        # Votes are private to the voter.
        assert await c.fetchval("SELECT count(*) FROM votes") == 0
        vote = await c.fetchval(
            "INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
            " VALUES ($1, 'post', $2, 'upvote') RETURNING id",
            w.bob,
            w.post,
        )
        assert [r["id"] for r in await c.fetch("SELECT id FROM votes")] == [vote]
        # As someone else.
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO votes (user_id, votable_type, votable_id, vote_type) VALUES ($1, 'question', $2, 'upvote')",
            w.carol,
            w.question,
        )
        # On one's own content, on nothing, on a draft, on an unknown kind of thing.
        await expect_error(
            c,
            RAISED,
            "INSERT INTO votes (user_id, votable_type, votable_id, vote_type) VALUES ($1, 'answer', $2, 'upvote')",
            w.bob,
            w.bob_answer,
            message="conflict: you cannot vote on your own answer",
        )
        for kind, target in (
            ("question", uuid.uuid4()),
            ("post", w.draft),
            ("comment", w.draft_comment),
        ):
            await expect_error(
                c,
                RAISED,
                "INSERT INTO votes (user_id, votable_type, votable_id, vote_type) VALUES ($1, $2, $3, 'upvote')",
                w.bob,
                kind,
                target,
                message="not_found:",
            )
        await expect_error(
            c,
            RAISED,
            "INSERT INTO votes (user_id, votable_type, votable_id, vote_type) VALUES ($1, 'user', $2, 'upvote')",
            w.bob,
            w.alice,
            message="validation_error:",
        )
        # Others' votes are invisible; only vote_type of one's own may change.
        assert (
            await affected(c, "UPDATE votes SET vote_type = 'downvote' WHERE id = $1", w.carol_vote)
            == 0
        )
        assert await affected(c, "DELETE FROM votes WHERE id = $1", w.carol_vote) == 0
        for column, value in (
            ("votable_id", f"'{w.question}'"),
            ("user_id", f"'{w.carol}'"),
            ("votable_type", "'question'"),
        ):
            await expect_error(
                c, ACCESS_DENIED, f"UPDATE votes SET {column} = {value} WHERE id = $1", vote
            )
        # (A like of a post cannot become a downvote: 0027; that is test_counters' subject.)
        assert await affected(c, "UPDATE votes SET vote_type = 'upvote' WHERE id = $1", vote) == 1
        # The API's upsert path works under the same rules.
        await c.execute(
            "INSERT INTO votes (user_id, votable_type, votable_id, vote_type) VALUES ($1, 'post', $2, 'upvote')"
            " ON CONFLICT (user_id, votable_type, votable_id) DO UPDATE SET vote_type = EXCLUDED.vote_type",
            w.bob,
            w.post,
        )
        assert await c.fetchval("SELECT vote_type::text FROM votes WHERE id = $1", vote) == "upvote"
        assert await affected(c, "DELETE FROM votes WHERE id = $1", vote) == 1

    async with acting_as(app_conn, as_user(w.admin)) as c:
        assert await c.fetchval("SELECT count(*) FROM votes") == 0
        assert (
            await affected(c, "UPDATE votes SET vote_type = 'downvote' WHERE id = $1", w.carol_vote)
            == 0
        )
        assert await affected(c, "DELETE FROM votes WHERE id = $1", w.carol_vote) == 0

    # Not even a job may re-point a vote: it would corrupt two counters.
    async with acting_as(app_conn, SERVICE) as c:
        await expect_error(
            c,
            RAISED,
            "UPDATE votes SET votable_id = $2 WHERE id = $1",
            w.carol_vote,
            w.bob_post,
            message="conflict:",
        )


# --------------------------------------------------------------- followers


async def test_followers(app_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w.bob)) as c:
        assert await c.fetchval("SELECT count(*) FROM followers") == 1
        assert (
            await affected(
                c,
                "INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
                w.bob,
                w.alice,
            )
            == 1
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
            w.carol,
            w.bob,
        )
        err = await expect_error(
            c,
            CHECK_VIOLATION,
            "INSERT INTO followers (follower_id, following_id) VALUES ($1, $1)",
            w.bob,
        )
        assert err.constraint_name == "followers_not_self"
        await expect_error(c, ACCESS_DENIED, "UPDATE followers SET following_id = $1", w.bob)
        assert await affected(c, "DELETE FROM followers WHERE id = $1", w.follow) == 0
    async with acting_as(app_conn, as_user(w.admin)) as c:
        assert await affected(c, "DELETE FROM followers WHERE id = $1", w.follow) == 0
    async with acting_as(app_conn, as_user(w.carol)) as c:
        assert await affected(c, "DELETE FROM followers WHERE id = $1", w.follow) == 1


# -------------------------------------------------------------------- chat


async def test_chat_rooms(app_conn, world):
    w = world
    for outsider in (w.bob, w.admin):
        async with acting_as(app_conn, as_user(outsider)) as c:
            assert await c.fetchval("SELECT count(*) FROM chat_rooms") == 0
            assert await affected(c, "UPDATE chat_rooms SET name = 'x' WHERE id = $1", w.room) == 0
            assert await affected(c, "DELETE FROM chat_rooms WHERE id = $1", w.room) == 0

    async with acting_as(app_conn, as_user(w.bob)) as c:
        room = await c.fetchval(
            "INSERT INTO chat_rooms (name, description, type, created_by)"
            " VALUES ('Bob''s room', NULL, 'group', $1) RETURNING id",
            w.bob,
        )
        assert (
            await c.fetchval(
                "SELECT role::text FROM chat_room_participants WHERE room_id = $1", room
            )
            == "admin"
        )
        await expect_error(
            c, ACCESS_DENIED, "INSERT INTO chat_rooms (name, created_by) VALUES ('x', $1)", w.alice
        )
        await expect_error(
            c, ACCESS_DENIED, "UPDATE chat_rooms SET created_by = $2 WHERE id = $1", room, w.alice
        )
        await expect_error(
            c, ACCESS_DENIED, "UPDATE chat_rooms SET type = 'direct' WHERE id = $1", room
        )

    async with acting_as(app_conn, as_user(w.carol)) as c:  # a plain member
        assert await c.fetchval("SELECT count(*) FROM chat_rooms") == 1
        assert (
            await affected(c, "UPDATE chat_rooms SET name = 'mine now' WHERE id = $1", w.room) == 0
        )
        assert await affected(c, "DELETE FROM chat_rooms WHERE id = $1", w.room) == 0

    async with acting_as(app_conn, as_user(w.alice)) as c:  # creator and room admin
        assert (
            await affected(
                c, "UPDATE chat_rooms SET name = 'Renamed', is_active = false WHERE id = $1", w.room
            )
            == 1
        )
        assert await affected(c, "DELETE FROM chat_rooms WHERE id = $1", w.room) == 1


async def test_chat_participants(app_conn, owner_conn, world):
    w = world
    for outsider in (w.bob, w.admin):
        async with acting_as(app_conn, as_user(outsider)) as c:
            assert (
                await c.fetchval(
                    "SELECT count(*) FROM chat_room_participants WHERE room_id = $1", w.room
                )
                == 0
            )
            await expect_error(
                c,
                ACCESS_DENIED,
                "INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)",
                w.room,
                outsider,
            )
            assert (
                await affected(
                    c, "UPDATE chat_room_participants SET role = 'admin' WHERE room_id = $1", w.room
                )
                == 0
            )
            assert (
                await affected(c, "DELETE FROM chat_room_participants WHERE room_id = $1", w.room)
                == 0
            )

    async with acting_as(app_conn, as_user(w.carol)) as c:
        assert (
            await c.fetchval(
                "SELECT count(*) FROM chat_room_participants WHERE room_id = $1", w.room
            )
            == 2
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)",
            w.room,
            w.bob,
        )
        await expect_error(
            c,
            RAISED,
            "UPDATE chat_room_participants SET role = 'admin' WHERE room_id = $1 AND user_id = $2",
            w.room,
            w.carol,
            message="forbidden:",
        )
        assert (
            await affected(
                c,
                "UPDATE chat_room_participants SET last_read_at = now()"
                " WHERE room_id = $1 AND user_id = $2",
                w.room,
                w.carol,
            )
            == 1
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "UPDATE chat_room_participants SET joined_at = now() WHERE user_id = $1",
            w.carol,
        )
        assert (
            await affected(
                c,
                "DELETE FROM chat_room_participants WHERE room_id = $1 AND user_id = $2",
                w.room,
                w.alice,
            )
            == 0
        )
        assert (
            await affected(
                c,
                "DELETE FROM chat_room_participants WHERE room_id = $1 AND user_id = $2",
                w.room,
                w.carol,
            )
            == 1
        )

    # Bob follows Alice, so she adds him (a stranger would be invited instead: 0031).
    await owner_conn.execute(
        "INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)", w.bob, w.alice)
    async with acting_as(app_conn, as_user(w.alice)) as c:  # room admin
        assert (
            await affected(
                c,
                "INSERT INTO chat_room_participants (room_id, user_id, role)"
                " VALUES ($1, $2, 'member')",
                w.room,
                w.bob,
            )
            == 1
        )
        await expect_error(
            c,
            RAISED,
            "UPDATE chat_room_participants SET last_read_at = now()"
            " WHERE room_id = $1 AND user_id = $2",
            w.room,
            w.carol,
            message="forbidden:",
        )
        assert (
            await affected(
                c,
                "UPDATE chat_room_participants SET role = 'moderator'"
                " WHERE room_id = $1 AND user_id = $2",
                w.room,
                w.carol,
            )
            == 1
        )
        assert (
            await affected(
                c,
                "DELETE FROM chat_room_participants WHERE room_id = $1 AND user_id = $2",
                w.room,
                w.bob,
            )
            == 1
        )

    # The last admin leaving hands the room to the longest-standing participant.
    async with acting_as(app_conn, as_user(w.alice)) as c:
        assert (
            await affected(
                c,
                "DELETE FROM chat_room_participants WHERE room_id = $1 AND user_id = $2",
                w.room,
                w.alice,
            )
            == 1
        )
        assert (
            await c.fetchval("SELECT count(*) FROM chat_messages WHERE room_id = $1", w.room) == 0
        )
        await set_caller(c, as_user(w.carol))
        assert (
            await c.fetchval(
                "SELECT role::text FROM chat_room_participants WHERE user_id = $1", w.carol
            )
            == "admin"
        )

    # A direct chat has exactly two people.
    direct = await make_room(owner_conn, w.alice, [w.bob], kind="direct")
    async with acting_as(app_conn, as_user(w.alice)) as c:
        await expect_error(
            c,
            RAISED,
            "INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)",
            direct,
            w.carol,
            message="conflict:",
        )


async def test_chat_messages(app_conn, world):
    w = world
    for outsider in (w.bob, w.admin):
        async with acting_as(app_conn, as_user(outsider)) as c:
            assert await c.fetchval("SELECT count(*) FROM chat_messages") == 0
            await expect_error(
                c,
                ACCESS_DENIED,
                "INSERT INTO chat_messages (room_id, sender_id, content) VALUES ($1, $2, 'hi')",
                w.room,
                outsider,
            )
            assert (
                await affected(
                    c, "UPDATE chat_messages SET content = 'x' WHERE room_id = $1", w.room
                )
                == 0
            )
            await expect_error(
                c, ACCESS_DENIED, "DELETE FROM chat_messages WHERE room_id = $1", w.room
            )

    async with acting_as(app_conn, as_user(w.carol)) as c:
        assert (
            await c.fetchval("SELECT count(*) FROM chat_messages WHERE room_id = $1", w.room) == 2
        )
        assert (
            await affected(
                c,
                "INSERT INTO chat_messages (room_id, sender_id, content, message_type)"
                " VALUES ($1, $2, 'hi', 'text')",
                w.room,
                w.carol,
            )
            == 1
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO chat_messages (room_id, sender_id, content) VALUES ($1, $2, 'I am Alice')",
            w.room,
            w.alice,
        )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO chat_messages (room_id, sender_id, content, message_type)"
            " VALUES ($1, $2, 'Alice was promoted', 'system')",
            w.room,
            w.carol,
        )
        assert (
            await affected(c, "UPDATE chat_messages SET content = 'x' WHERE id = $1", w.alice_msg)
            == 0
        )
        assert (
            await affected(
                c, "UPDATE chat_messages SET content = 'edited' WHERE id = $1", w.carol_msg
            )
            == 1
        )
        for column, value in (
            ("is_read", "true"),
            ("sender_id", f"'{w.alice}'"),
            ("room_id", f"'{w.room}'"),
        ):
            await expect_error(
                c,
                ACCESS_DENIED,
                f"UPDATE chat_messages SET {column} = {value} WHERE id = $1",
                w.carol_msg,
            )
        # Messages are only ever soft-deleted (chat_delete_message keeps the seq):
        # no request role may remove a row, not even its sender or a room admin.
        for msg in (w.alice_msg, w.carol_msg):
            await expect_error(c, ACCESS_DENIED, "DELETE FROM chat_messages WHERE id = $1", msg)

    async with acting_as(app_conn, as_user(w.alice)) as c:  # room admin moderates, softly
        await expect_error(
            c, ACCESS_DENIED, "DELETE FROM chat_messages WHERE id = $1", w.carol_msg
        )
        deleted = await c.fetchrow(
            "SELECT content, deleted_at, seq FROM public.chat_delete_message($1)", w.carol_msg
        )
        assert deleted["deleted_at"] is not None and deleted["content"] == ""


# ----------------------------------------------------------- notifications


async def test_notifications(app_conn, world):
    w = world
    for other in (w.bob, w.admin):
        async with acting_as(app_conn, as_user(other)) as c:
            # Later revisions create notifications from triggers; whatever exists,
            # nobody sees anyone else's.
            assert (
                await c.fetchval("SELECT count(*) FROM notifications WHERE user_id <> $1", other)
                == 0
            )
            assert (
                await c.fetchval("SELECT count(*) FROM notifications WHERE id = $1", w.notification)
                == 0
            )
            assert (
                await affected(
                    c, "UPDATE notifications SET is_read = true WHERE id = $1", w.notification
                )
                == 0
            )
            assert await affected(c, "DELETE FROM notifications WHERE id = $1", w.notification) == 0
            await expect_error(
                c,
                ACCESS_DENIED,
                "INSERT INTO notifications (user_id, type, title, message)"
                " VALUES ($1, 'system', 'Spoof', 'Spoof')",
                w.alice,
            )
    async with acting_as(app_conn, as_user(w.alice)) as c:
        assert (
            await c.fetchval("SELECT count(*) FROM notifications WHERE id = $1", w.notification)
            == 1
        )
        assert (
            await c.fetchval("SELECT count(*) FROM notifications WHERE user_id <> $1", w.alice) == 0
        )
        assert (
            await affected(
                c, "UPDATE notifications SET is_read = true WHERE id = $1", w.notification
            )
            == 1
        )
        for column, value in (("title", "'x'"), ("user_id", f"'{w.bob}'"), ("data", "'{}'")):
            await expect_error(
                c,
                ACCESS_DENIED,
                f"UPDATE notifications SET {column} = {value} WHERE id = $1",
                w.notification,
            )
        await expect_error(
            c,
            ACCESS_DENIED,
            "INSERT INTO notifications (user_id, type, title, message)"
            " VALUES ($1, 'system', 'Self', 'Self')",
            w.alice,
        )
        assert await affected(c, "DELETE FROM notifications WHERE id = $1", w.notification) == 1
    async with acting_as(app_conn, SERVICE) as c:
        assert (
            await affected(
                c,
                "INSERT INTO notifications (user_id, type, title, message)"
                " VALUES ($1, 'system', 'Welcome', 'Hello')",
                w.bob,
            )
            == 1
        )


# ------------------------------------------------------- privilege catalog


# The exact column privileges of `authenticated`: the contract the API codes against.
# Exact on purpose: a new grant on these tables must come with an update of
# docs/schema.md section 3.3 and of this table.
AUTHENTICATED_WRITES = {
    ("users", "UPDATE"): {"full_name", "username", "avatar_url", "bio"},
    ("posts", "INSERT"): {"author_id", "title", "content", "category", "tags", "is_published"},
    ("posts", "UPDATE"): {"title", "content", "category", "tags", "is_published"},
    ("comments", "INSERT"): {"post_id", "author_id", "parent_id", "content"},
    ("comments", "UPDATE"): {"content"},
    ("questions", "INSERT"): {"author_id", "title", "content", "category", "tags"},
    ("questions", "UPDATE"): {"title", "content", "category", "tags", "status"},
    ("answers", "INSERT"): {"question_id", "author_id", "content"},
    ("answers", "UPDATE"): {"content"},
    ("resources", "INSERT"): {
        "id",
        "file_id",
        "author_id",
        "title",
        "description",
        "file_url",
        "file_name",
        "file_size",
        "file_type",
        "category",
        "tags",
        "is_public",
    },
    ("resources", "UPDATE"): {"title", "description", "category", "tags", "is_public"},
    ("votes", "INSERT"): {"user_id", "votable_type", "votable_id", "vote_type"},
    ("votes", "UPDATE"): {"vote_type"},
    ("followers", "INSERT"): {"follower_id", "following_id"},
    ("chat_rooms", "INSERT"): {"name", "description", "type", "created_by"},
    ("chat_rooms", "UPDATE"): {"name", "description", "is_active"},
    ("chat_room_participants", "INSERT"): {"room_id", "user_id", "role"},
    ("chat_room_participants", "UPDATE"): {"role", "last_read_at"},
    ("chat_messages", "INSERT"): {"room_id", "sender_id", "content", "message_type"},
    ("chat_messages", "UPDATE"): {"content"},
    ("notifications", "UPDATE"): {"is_read"},
}
AUTHENTICATED_DELETES = {
    "posts",
    "comments",
    "questions",
    "answers",
    "resources",
    "votes",
    "followers",
    "chat_rooms",
    "chat_room_participants",
    "notifications",
}


async def test_column_privileges_are_exactly_the_documented_ones(owner_conn, world):
    rows = await owner_conn.fetch(
        """
        SELECT c.relname AS tbl, a.attname AS col, p.priv
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE']) AS p(priv)
        WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1::text[])
          AND has_column_privilege($2, c.oid, a.attnum, p.priv)
        """,
        list(ALL_TABLES),
        "authenticated",
    )
    granted: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        granted.setdefault((r["tbl"], r["priv"]), set()).add(r["col"])
    writes = {k: v for k, v in granted.items() if k[1] != "SELECT"}
    assert writes == AUTHENTICATED_WRITES
    assert granted[("users", "SELECT")] == {
        "id",
        "full_name",
        "username",
        "avatar_url",
        "bio",
        "role",
        "is_verified",
        "is_active",
        "created_at",
        "updated_at",
    }
    deletes = {
        t
        for t in ALL_TABLES
        if await owner_conn.fetchval(
            "SELECT has_table_privilege('authenticated', $1, 'DELETE')", f"public.{t}"
        )
    }
    assert deletes == AUTHENTICATED_DELETES
    # anon: SELECT only, and nothing on private tables.
    for t in ALL_TABLES:
        for priv in ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
            assert not await owner_conn.fetchval(
                "SELECT has_table_privilege('anon', $1, $2) OR has_any_column_privilege('anon', $1, $2)"
                if priv in ("INSERT", "UPDATE", "REFERENCES")
                else "SELECT has_table_privilege('anon', $1, $2)",
                f"public.{t}",
                priv,
            ), (t, priv)
    for t in ("votes", "notifications", "chat_rooms", "chat_messages", "chat_room_participants"):
        assert not await owner_conn.fetchval(
            "SELECT has_any_column_privilege('anon', $1, 'SELECT')", f"public.{t}"
        )
