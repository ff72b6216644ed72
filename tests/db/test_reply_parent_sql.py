"""0058: a reply's parent must be a comment its author may see: not one a moderator hid
(unless it is their own, or they are an administrator), nor one across a block."""

from __future__ import annotations

from tests.db.helpers import (
    RAISED,
    acting_as,
    as_user,
    expect_error,
    make_comment,
    make_post,
    make_user,
)

REPLY = ("INSERT INTO comments (post_id, author_id, parent_id, content)"
         " VALUES ($1, $2, $3, 'me too') RETURNING id")


async def test_a_reply_needs_a_parent_its_author_may_see(app_conn, owner_conn):
    author, replier, blocker = [await make_user(owner_conn) for _ in range(3)]
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    shown = await make_comment(owner_conn, post, author)
    hidden = await make_comment(owner_conn, post, author)
    await owner_conn.execute("UPDATE comments SET hidden_at = now() WHERE id = $1", hidden)
    blockers = await make_comment(owner_conn, post, blocker)
    await owner_conn.execute(
        "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)", blocker, replier)

    async with acting_as(app_conn, as_user(replier)):
        assert await app_conn.fetchval(REPLY, post, replier, shown)
        for parent in (hidden, blockers):
            await expect_error(app_conn, RAISED, REPLY, post, replier, parent,
                               message="not_found:")
    async with acting_as(app_conn, as_user(author)):  # their own hidden comment
        assert await app_conn.fetchval(REPLY, post, author, hidden)
    async with acting_as(app_conn, as_user(admin)):
        assert await app_conn.fetchval(REPLY, post, admin, hidden)
    async with acting_as(app_conn, as_user(blocker)):  # the block stands both ways
        await expect_error(app_conn, RAISED, REPLY, post, blocker,
                           await make_comment(owner_conn, post, replier), message="not_found:")
