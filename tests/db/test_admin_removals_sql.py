"""0054: an administrator's plain DELETE of someone else's content is logged, resolves its
reports and tells the author, once; the author's own deletes and rows taken by a foreign key
are not moderation, and moderate() is not logged twice."""

from __future__ import annotations

import json

from tests.db.helpers import (
    acting_as,
    as_user,
    make_answer,
    make_comment,
    make_post,
    make_question,
    make_resource,
    make_user,
    set_caller,
)

REMOVALS = ("SELECT target_type, target_id, details, reason FROM audit_log"
            " WHERE action = 'moderation.delete' ORDER BY id")
TOLD = ("SELECT title FROM notifications WHERE user_id = $1 AND type = 'system'"
        " AND data->>'kind' = 'moderation'")


async def _report(owner_conn, reporter, kind, target):
    return await owner_conn.fetchval(
        "INSERT INTO reports (reporter_id, target_type, target_id, reason)"
        " VALUES ($1, $2::report_target, $3, 'spam') RETURNING id", reporter, kind, target)


async def test_an_admins_delete_of_each_kind_is_a_logged_moderation(app_conn, owner_conn):
    author, reporter = await make_user(owner_conn), await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    question = await make_question(owner_conn, author)
    targets = {
        "comment": ("comments", await make_comment(owner_conn, post, author)),
        "answer": ("answers", await make_answer(owner_conn, question, author)),
        "resource": ("resources", await make_resource(owner_conn, author)),
        "post": ("posts", post),
        "question": ("questions", question),
    }
    report = await _report(owner_conn, reporter, "comment", targets["comment"][1])
    async with acting_as(app_conn, as_user(admin)):
        for table, row in targets.values():  # a comment before its post: each its own delete
            assert await app_conn.execute(f"DELETE FROM {table} WHERE id = $1", row) == "DELETE 1"
        logged = await app_conn.fetch(REMOVALS)
        assert [(r["target_type"], r["target_id"]) for r in logged] == [
            (kind, row) for kind, (_, row) in targets.items()]
        for entry in logged:
            details = json.loads(entry["details"])
            assert entry["reason"] is None
            assert (details["author_id"], details["through"]) == (str(author), "delete")
        assert [json.loads(r["details"])["reports_resolved"] for r in logged] == [1, 0, 0, 0, 0]
        row = await app_conn.fetchrow(
            "SELECT status, resolved_at FROM reports WHERE id = $1", report)
        assert row["status"] == "actioned" and row["resolved_at"] is not None
        assert await app_conn.fetchval(
            "SELECT count(*) FROM public.admin_open_reports() WHERE id = $1", report) == 0
        await set_caller(app_conn, as_user(author))
        assert sorted(r["title"] for r in await app_conn.fetch(TOLD, author)) == sorted(
            f"A moderator removed your {kind}" for kind in targets)


async def test_own_deletes_and_rows_taken_along_are_not_moderation(app_conn, owner_conn):
    author, commenter = await make_user(owner_conn), await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    await make_comment(owner_conn, post, commenter)
    own = await make_post(owner_conn, admin)
    await make_comment(owner_conn, own, commenter)
    authors_own = await make_post(owner_conn, author)
    async with acting_as(app_conn, as_user(author)):
        await app_conn.execute("DELETE FROM posts WHERE id = $1", authors_own)
        await set_caller(app_conn, as_user(admin))
        # The author's own delete, then the administrator's own post with someone's comment
        # taken along: nothing logged.
        await app_conn.execute("DELETE FROM posts WHERE id = $1", own)
        assert await app_conn.fetch(REMOVALS) == []
        # Someone else's post: the post is logged, the comment taken along is not.
        await app_conn.execute("DELETE FROM posts WHERE id = $1", post)
        assert [r["target_id"] for r in await app_conn.fetch(REMOVALS)] == [post]
        await set_caller(app_conn, as_user(commenter))
        assert await app_conn.fetch(TOLD, commenter) == []


async def test_moderate_delete_is_logged_once_with_its_reason(app_conn, owner_conn):
    author, reporter = await make_user(owner_conn), await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    await _report(owner_conn, reporter, "post", post)
    async with acting_as(app_conn, as_user(admin)):
        await app_conn.fetchval(
            "SELECT public.moderate('post', $1, 'delete', 'Off topic', NULL, 'req-1')", post)
        logged = await app_conn.fetch(REMOVALS)
        assert [(r["target_id"], r["reason"]) for r in logged] == [(post, "Off topic")]
        await set_caller(app_conn, as_user(author))
        assert [r["title"] for r in await app_conn.fetch(TOLD, author)] == [
            "A moderator removed your post"]
