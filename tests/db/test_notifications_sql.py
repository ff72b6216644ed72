"""0007 in SQL: who may call what, preferences under RLS, exact coalescing under
concurrency and the mention parser."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    SERVICE,
    acting_as,
    affected,
    as_user,
    commit_as,
    expect_error,
    make_answer,
    make_comment,
    make_notification,
    make_post,
    make_question,
    make_user,
    make_vote,
    set_caller,
)

INTERNAL_FUNCTIONS = [
    "public.notification_title(notification_type, text, integer, text)",
    "public.notification_merge(jsonb, jsonb, jsonb)",
    "public.notify(uuid, uuid, notification_type, text, uuid, text, jsonb)",
    "public.mentioned_usernames(text)",
    "public.notify_mentions(text, text, uuid, text, uuid, text, jsonb, uuid[])",
    "public.notify_on_vote()", "public.notify_on_comment()", "public.notify_on_answer()",
    "public.notify_on_post()", "public.notify_on_question()", "public.notify_on_follow()",
]


async def test_only_service_role_may_send_system_notifications(owner_conn):
    for signature in INTERNAL_FUNCTIONS:
        for role in ("anon", "authenticated", "service_role"):
            assert not await owner_conn.fetchval(
                "SELECT has_function_privilege($1, to_regprocedure($2), 'EXECUTE')", role, signature
            ), (role, signature)
    callers = {role for role in ("anon", "authenticated", "service_role") if await owner_conn.fetchval(
        "SELECT has_function_privilege($1, 'public.notify_system(uuid, text, text, jsonb)', 'EXECUTE')", role)}
    assert callers == {"service_role"}
    # Definers write what the actor may not; the pure helpers run as whoever calls them.
    # Every one of them pins its search_path.
    pure = {"public.notification_title(notification_type, text, integer, text)",
            "public.notification_merge(jsonb, jsonb, jsonb)", "public.mentioned_usernames(text)"}
    for signature in INTERNAL_FUNCTIONS + ["public.notify_system(uuid, text, text, jsonb)"]:
        secdef, config = await owner_conn.fetchrow(
            "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = to_regprocedure($1)", signature)
        assert secdef is (signature not in pure), signature
        assert config == ["search_path=public, pg_temp"], signature


async def test_system_notifications_respect_the_preference(app_conn, owner_conn):
    alice = await make_user(owner_conn)
    bob = await make_user(owner_conn)
    await owner_conn.execute("INSERT INTO notification_preferences (user_id, on_system) VALUES ($1, false)", bob)
    async with acting_as(app_conn, as_user(alice)) as c:
        await expect_error(c, ACCESS_DENIED, "SELECT public.notify_system($1, 'Hi', 'Hello')", alice)
    async with acting_as(app_conn, SERVICE) as c:
        sent = await c.fetchval("SELECT public.notify_system($1, 'Maintenance', 'Tonight at 2:00')", alice)
        assert sent is not None
        assert await c.fetchval("SELECT public.notify_system($1, 'Maintenance', 'Tonight')", bob) is None
        # System notifications have no target and never coalesce.
        assert await c.fetchval("SELECT public.notify_system($1, 'Again', 'Again')", alice) is not None
        assert await c.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", alice) == 2
        assert await c.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", bob) == 0


async def test_preferences_belong_to_their_user(app_conn, owner_conn):
    alice = await make_user(owner_conn)
    bob = await make_user(owner_conn)
    await owner_conn.execute("INSERT INTO notification_preferences (user_id, on_like) VALUES ($1, false)", alice)
    async with acting_as(app_conn, ANON) as c:
        await expect_error(c, ACCESS_DENIED, "SELECT * FROM notification_preferences")
    async with acting_as(app_conn, as_user(bob)) as c:
        assert await c.fetchval("SELECT count(*) FROM notification_preferences") == 0
        assert await affected(c, "UPDATE notification_preferences SET on_like = true WHERE user_id = $1", alice) == 0
        await expect_error(c, ACCESS_DENIED,
                           "INSERT INTO notification_preferences (user_id, on_like) VALUES ($1, true)", alice)
        assert await affected(c, "INSERT INTO notification_preferences (user_id, on_like) VALUES ($1, false)",
                              bob) == 1
        await expect_error(c, ACCESS_DENIED, "UPDATE notification_preferences SET user_id = $1", alice)
        await expect_error(c, ACCESS_DENIED, "UPDATE notification_preferences SET updated_at = now()")
        await expect_error(c, ACCESS_DENIED, "DELETE FROM notification_preferences")
    async with acting_as(app_conn, as_user(alice)) as c:
        assert await c.fetchval("SELECT on_like FROM notification_preferences") is False
        assert await affected(c, "UPDATE notification_preferences SET on_like = true") == 1


async def _wait_until_blocked(owner: asyncpg.Connection, pid: int) -> None:
    """Poll until backend ``pid`` waits on a lock (no timing is asserted)."""
    for _ in range(2000):
        if await owner.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        ):
            return
        await asyncio.sleep(0.005)
    pytest.fail("the second like never waited for the first")


async def test_concurrent_likes_coalesce_exactly(test_db, owner_conn):
    """The second like waits on the first one's unread notification and then folds into it."""
    alice = await make_user(owner_conn)
    bob = await make_user(owner_conn)
    carol = await make_user(owner_conn)
    post = await make_post(owner_conn, alice)
    first = await asyncpg.connect(test_db.app_url)
    second = await asyncpg.connect(test_db.app_url)
    try:
        tx1 = first.transaction()
        await tx1.start()
        await set_caller(first, as_user(bob))
        await first.execute("INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
                            " VALUES ($1, 'post', $2, 'upvote')", bob, post)

        async def like_as_carol() -> None:
            async with second.transaction():
                await set_caller(second, as_user(carol))
                await second.execute("INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
                                     " VALUES ($1, 'post', $2, 'upvote')", carol, post)

        pending = asyncio.create_task(like_as_carol())
        await _wait_until_blocked(owner_conn, second.get_server_pid())
        await tx1.commit()
        await pending
    finally:
        await first.close()
        await second.close()
    rows = await owner_conn.fetch("SELECT title, data FROM notifications WHERE user_id = $1", alice)
    assert len(rows) == 1
    assert rows[0]["title"] == "2 people liked your post"
    data = json.loads(rows[0]["data"])
    assert data["count"] == 2 and [a["id"] for a in data["actors"]] == [str(carol), str(bob)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @Alice, and @bob!", ["alice", "bob"]),
        ("@carol", ["carol"]),
        ("mail bob@alice.org or @@dave", []),
        ("@ab is too short, @" + "x" * 51 + " too long", []),
        ("(@eve) @eve @eve.", ["eve"]),
        ("@frank@grace", []),
        (None, []),
    ],
)
async def test_mention_parser(owner_conn, text, expected):
    found = await owner_conn.fetchval("SELECT public.mentioned_usernames($1)", text)
    assert sorted(found) == expected


async def test_a_deleted_account_leaves_the_notifications_of_others(app_conn, owner_conn):
    """0043: a person who deletes their account leaves others' notifications: out of
    ``actors``, the count down, the title made again with whoever is left, their words
    gone from ``message``; a notification that named only them is deleted."""
    carol, alice, bob, dave, eve = [await make_user(owner_conn) for _ in range(5)]
    names = {u: await owner_conn.fetchval("SELECT username FROM users WHERE id = $1", u)
             for u in (alice, dave, eve)}
    post, question = await make_post(owner_conn, carol), await make_question(owner_conn, carol)
    for voter in (alice, bob):
        await make_vote(owner_conn, voter, "post", post)
    for voter in (bob, eve):
        await make_vote(owner_conn, voter, "question", question)
    await make_comment(owner_conn, post, dave)
    await make_comment(owner_conn, post, bob)
    await owner_conn.execute("INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
                             bob, carol)
    await owner_conn.execute("INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
                             alice, carol)
    await owner_conn.execute("UPDATE notifications SET is_read = true"
                             " WHERE user_id = $1 AND type = 'follow'", carol)  # read ones too

    async def carols() -> dict[tuple[str, str], dict]:
        rows = await owner_conn.fetch(
            "SELECT type::text, data ->> 'target_type' AS target, title, message, data"
            " FROM notifications WHERE user_id = $1", carol)
        return {(r["type"], r["target"]): {"title": r["title"], "message": r["message"],
                                           **json.loads(r["data"])} for r in rows}

    before = await carols()
    assert before[("like", "post")]["title"] == "2 people liked your post"
    assert before[("comment", "post")]["message"] == "Nice one"
    assert before[("follow", "user")]["count"] == 2

    await commit_as(app_conn, as_user(bob), "SELECT public.delete_own_account(NULL)")
    after = await carols()
    like, upvote = after[("like", "post")], after[("like", "question")]
    assert (like["count"], like["title"]) == (1, f"{names[alice]} liked your post")
    assert [a["id"] for a in like["actors"]] == [str(alice)]
    assert (upvote["count"], upvote["title"]) == (1, f"{names[eve]} upvoted your question")
    assert upvote["message"] == before[("like", "question")]["message"]  # carol's own title
    comment = after[("comment", "post")]
    assert (comment["count"], comment["title"]) == (1, f"{names[dave]} commented on your post")
    assert comment["message"] == ""  # the latest words were bob's
    assert [a["id"] for a in after[("follow", "user")]["actors"]] == [str(alice)]
    assert str(bob) not in json.dumps(list(after.values()))

    # Someone who was the only one named: the notification goes.
    await commit_as(app_conn, as_user(alice), "SELECT public.delete_own_account(NULL)")
    after = await carols()
    assert ("like", "post") not in after and ("follow", "user") not in after
    assert set(after) == {("like", "question"), ("comment", "post")}


async def test_deleted_words_leave_the_notifications_that_quoted_them(app_conn, owner_conn):
    """0044: an edited comment or answer is quoted as it now reads, a hidden one not at all;
    a notification about a deleted one alone is deleted; one that also counts other actions keeps them but loses
    the quote and the link to it."""
    carol, dave, bob, erin = [await make_user(owner_conn) for _ in range(4)]
    erin_name = await owner_conn.fetchval("SELECT username FROM users WHERE id = $1", erin)
    post, other = await make_post(owner_conn, carol), await make_post(owner_conn, carol)
    question = await make_question(owner_conn, carol)
    alone = await make_comment(owner_conn, other, bob)
    await make_comment(owner_conn, post, dave)
    latest = await owner_conn.fetchval(
        "INSERT INTO comments (post_id, author_id, content) VALUES ($1, $2, $3) RETURNING id",
        post, bob, f"Regrettable words, @{erin_name}")
    answer = await owner_conn.fetchval(
        "INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'Take this back')"
        " RETURNING id", question, bob)

    async def about(user) -> dict[str, dict]:
        rows = await owner_conn.fetch(
            "SELECT type::text, data ->> 'target_id' AS target, message, data FROM notifications"
            " WHERE user_id = $1", user)
        return {r["target"]: {"type": r["type"], "message": r["message"], **json.loads(r["data"])}
                for r in rows}

    before = await about(carol)
    assert before[str(post)]["comment_id"] == str(latest) and before[str(post)]["count"] == 2
    assert before[str(question)]["answer_id"] == str(answer)
    assert (await about(erin))[str(latest)]["type"] == "mention"

    # Edited, they are quoted as they now read.
    edited = f"Better words, @{erin_name}"
    assert await commit_as(app_conn, as_user(bob), "UPDATE comments SET content = $2 WHERE id = $1",
                           latest, edited) == "UPDATE 1"
    assert await commit_as(app_conn, as_user(bob), "UPDATE answers SET content = 'Kept' WHERE id = $1",
                           answer) == "UPDATE 1"
    assert (await about(carol))[str(post)]["message"] == edited
    assert (await about(carol))[str(question)]["message"] == "Kept"
    assert (await about(erin))[str(latest)]["message"] == edited
    assert (await about(carol))[str(other)]["message"] == "Nice one"  # another comment's quote
    # Hidden by a moderator, a text is not quoted; shown again, it is.
    admin = await make_user(owner_conn, role="admin")
    for action, quoted in (("hide", ""), ("dismiss", "Nice one")):
        await commit_as(app_conn, as_user(admin),
                        "SELECT public.moderate('comment', $1, $2, 'abuse', NULL, NULL)",
                        alone, action)
        assert (await about(carol))[str(other)]["message"] == quoted, action

    # Bob deletes his texts, through the policies (a moderator's delete runs the same trigger).
    for sql, target in (("DELETE FROM comments WHERE id = $1", latest),
                        ("DELETE FROM comments WHERE id = $1", alone),
                        ("DELETE FROM answers WHERE id = $1", answer)):
        assert await commit_as(app_conn, as_user(bob), sql, target) == "DELETE 1"
    after = await about(carol)
    assert set(after) == {str(post)}  # the comment on the other post and the answer: alone
    shared = after[str(post)]
    assert shared["message"] == "" and "comment_id" not in shared
    assert shared["count"] == 2 and [a["id"] for a in shared["actors"]] == [str(bob), str(dave)]
    assert await about(erin) == {}  # the mention went with its comment


async def test_notifications_about_deleted_content_go_with_it(app_conn, owner_conn):
    """0045: a deleted post, question or comment takes its notifications with it (its
    author's, the mentions in it); a hidden post's mentions do not quote its title."""
    carol, alice, dave, erin = [await make_user(owner_conn) for _ in range(4)]
    admin = await make_user(owner_conn, role="admin")
    dave_name = await owner_conn.fetchval("SELECT username FROM users WHERE id = $1", dave)
    post = await owner_conn.fetchval(
        "INSERT INTO posts (author_id, title, content) VALUES ($1, 'Joins at last', $2)"
        " RETURNING id", carol, f"Thanks @{dave_name}")
    await make_vote(owner_conn, alice, "post", post)
    others = await make_post(owner_conn, erin)
    comment = await make_comment(owner_conn, others, carol)
    await make_vote(owner_conn, alice, "comment", comment)
    question = await make_question(owner_conn, erin)
    await make_answer(owner_conn, question, alice)
    await owner_conn.execute("INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
                             alice, carol)

    async def targets(user) -> dict[str, str]:
        rows = await owner_conn.fetch(
            "SELECT data ->> 'target_id' AS target, message FROM notifications WHERE user_id = $1",
            user)
        return {r["target"]: r["message"] for r in rows}

    assert set(await targets(carol)) == {str(post), str(comment), str(carol)}
    assert await targets(dave) == {str(post): "Joins at last"}
    assert set(await targets(erin)) == {str(others), str(question)}

    for action, quoted in (("hide", ""), ("dismiss", "Joins at last")):
        await commit_as(app_conn, as_user(admin),
                        "SELECT public.moderate('post', $1, $2, 'abuse', NULL, NULL)", post, action)
        assert await targets(dave) == {str(post): quoted}, action

    for who, sql, row in ((carol, "DELETE FROM posts WHERE id = $1", post),
                          (carol, "DELETE FROM comments WHERE id = $1", comment),
                          (erin, "DELETE FROM questions WHERE id = $1", question)):
        assert await commit_as(app_conn, as_user(who), sql, row) == "DELETE 1"
    # The follow stays, and so does the moderators' notice (a system one, with no subject).
    assert await targets(carol) == {str(carol): await owner_conn.fetchval(
        "SELECT full_name FROM users WHERE id = $1", alice), None: "abuse"}
    assert await targets(dave) == {}
    assert await targets(erin) == {}  # the answer, and carol's comment on her post (0044)


async def test_a_blocked_person_leaves_the_blockers_notifications(app_conn, owner_conn):
    """0043: blocking someone takes them out of one's notifications as if their account
    were gone; theirs, which would tell of a private block, stay as they were."""
    carol, alice, bob = [await make_user(owner_conn) for _ in range(3)]
    alice_name = await owner_conn.fetchval("SELECT username FROM users WHERE id = $1", alice)
    post, bobs = await make_post(owner_conn, carol), await make_post(owner_conn, bob)
    for voter in (alice, bob):
        await make_vote(owner_conn, voter, "post", post)
    await owner_conn.execute(
        "INSERT INTO comments (post_id, author_id, content) VALUES ($1, $2, 'Something cruel')",
        post, bob)
    await make_vote(owner_conn, carol, "post", bobs)

    async def of(user) -> dict[str, tuple]:
        rows = await owner_conn.fetch(
            "SELECT type::text, title, message FROM notifications WHERE user_id = $1", user)
        return {r["type"]: (r["title"], r["message"]) for r in rows}

    assert (await of(carol))["comment"][1] == "Something cruel"
    bobs_before = await of(bob)
    assert await commit_as(app_conn, as_user(carol),
                           "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                           carol, bob) == "INSERT 0 1"
    assert await of(carol) == {"like": (f"{alice_name} liked your post", "A post")}
    assert await of(bob) == bobs_before


async def test_each_change_of_an_unread_notification_says_created_or_updated(test_db, owner_conn):
    """0055: news (new, joined, unread again) is ``created``; any other change of an unread
    notification is ``updated``; a change that changes nothing, and read ones, say nothing."""
    heard: list[dict] = []
    done = asyncio.Event()

    def hear(*args):
        if args[3] == "end":
            done.set()
        else:
            heard.append(json.loads(args[3]))

    user = await make_user(owner_conn)
    listener = await asyncpg.connect(test_db.owner_url)
    try:
        await listener.add_listener("focushub_notifications", hear)
        note = await make_notification(owner_conn, user)
        await owner_conn.execute("UPDATE notifications SET message = 'Someone else' WHERE id = $1", note)
        await owner_conn.execute("UPDATE notifications SET message = message WHERE id = $1", note)
        await owner_conn.execute("UPDATE notifications SET created_at = created_at + interval '1 s'"
                                 " WHERE id = $1", note)
        await owner_conn.execute("UPDATE notifications SET is_read = true WHERE id = $1", note)
        await owner_conn.execute("UPDATE notifications SET title = 'x' WHERE id = $1", note)
        await owner_conn.execute("UPDATE notifications SET is_read = false WHERE id = $1", note)
        # Delivered in commit order: once this arrives, everything before it has.
        await owner_conn.execute("SELECT pg_notify('focushub_notifications', 'end')")
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await listener.close()
    assert [(h["op"], h["notification"]["id"]) for h in heard] == [
        ("created", str(note)), ("updated", str(note)), ("created", str(note)),
        ("created", str(note))]
    assert heard[1]["notification"]["message"] == "Someone else"
