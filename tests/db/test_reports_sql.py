"""Reports and moderation, attacked in SQL: forging, rewriting, reading others' reports,
un-hiding one's own content, lifting one's own suspension, calling admin functions."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    acting_as,
    affected,
    as_user,
    expect_error,
    make_post,
    make_user,
    set_caller,
)

REPORT = ("INSERT INTO reports (target_type, target_id, reason) "
          "VALUES ('post', $1, 'spam') RETURNING id")


async def test_reports_cannot_be_forged_or_rewritten(app_conn, owner_conn):
    author, reporter, other = [await make_user(owner_conn) for _ in range(3)]
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    draft = await make_post(owner_conn, author, published=False)
    async with acting_as(app_conn, ANON):
        await expect_error(app_conn, ACCESS_DENIED, REPORT, post)
    async with acting_as(app_conn, as_user(reporter)):
        # Not in someone else's name, not already resolved, not about what one cannot see.
        await expect_error(app_conn, ACCESS_DENIED,
                           "INSERT INTO reports (reporter_id, target_type, target_id, reason)"
                           " VALUES ($1, 'post', $2, 'spam')", other, post)
        await expect_error(app_conn, ACCESS_DENIED,
                           "INSERT INTO reports (target_type, target_id, reason, status)"
                           " VALUES ('post', $1, 'spam', 'actioned')", post)
        await expect_error(app_conn, ACCESS_DENIED, REPORT, draft)
        await expect_error(app_conn, RAISED,
                           "INSERT INTO reports (target_type, target_id, reason)"
                           " VALUES ('user', $1, 'spam')", reporter, message="validation_error:")
        report = await app_conn.fetchval(REPORT, post)
        row = await app_conn.fetchrow(
            "SELECT reporter_id, status, snapshot FROM reports WHERE id = $1", report)
        assert (row["reporter_id"], row["status"]) == (reporter, "open")
        assert row["snapshot"] and "What I learned today" in row["snapshot"]
        # The reported author is recorded, for moderators only (0047).
        await expect_error(app_conn, ACCESS_DENIED,
                           "SELECT target_user_id FROM reports WHERE id = $1", report)
        await set_caller(app_conn, as_user(admin))
        assert await app_conn.fetchval(
            "SELECT target_user_id FROM public.admin_open_reports() WHERE id = $1", report
        ) == author
        # Once made, a report changes only through moderate().
        await expect_error(app_conn, ACCESS_DENIED, "UPDATE reports SET status = 'dismissed'")
        await expect_error(app_conn, ACCESS_DENIED, "UPDATE reports SET details = 'edited'")
        await expect_error(app_conn, ACCESS_DENIED, "DELETE FROM reports")


async def test_only_the_reporter_and_admins_read_a_report(app_conn, owner_conn):
    author, reporter, bystander = [await make_user(owner_conn) for _ in range(3)]
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    async with acting_as(app_conn, as_user(reporter)):
        await app_conn.execute(REPORT, post)
        visible = {"reporter": await app_conn.fetchval("SELECT count(*) FROM reports")}
    # acting_as rolled that back; the same report, committed, for the other readers.
    await owner_conn.execute(
        "INSERT INTO reports (reporter_id, target_type, target_id, reason)"
        " VALUES ($1, 'post', $2, 'spam')", reporter, post)
    for who, caller in (("author", as_user(author)), ("bystander", as_user(bystander)),
                        ("admin", as_user(admin)), ("anon", ANON)):
        async with acting_as(app_conn, caller):
            if caller is ANON:
                await expect_error(app_conn, ACCESS_DENIED, "SELECT count(*) FROM reports")
            else:
                visible[who] = await app_conn.fetchval("SELECT count(*) FROM reports")
    assert visible == {"reporter": 1, "author": 0, "bystander": 0, "admin": 1}


async def test_a_reporter_reads_neither_the_moderator_nor_the_note_nor_the_author(
        app_conn, owner_conn):
    author, reporter = await make_user(owner_conn), await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    report = await owner_conn.fetchval(
        "INSERT INTO reports (reporter_id, target_type, target_id, reason) VALUES ($1, 'post', $2,"
        " 'spam') RETURNING id", reporter, post)
    # Resolved as moderate() resolves it.
    await owner_conn.execute(
        "UPDATE reports SET status = 'actioned', resolved_at = now(), resolved_by = $2,"
        " resolution = 'delete: Spam link' WHERE id = $1", report, admin)
    async with acting_as(app_conn, as_user(reporter)):
        row = await app_conn.fetchrow(
            "SELECT id, reporter_id, target_type, target_id, reason, details, snapshot, status,"
            " created_at, resolved_at FROM reports WHERE id = $1", report)
        assert (row["status"], row["resolved_at"] is not None) == ("actioned", True)
        for column in ("resolved_by", "resolution", "target_user_id", "*"):
            await expect_error(app_conn, ACCESS_DENIED,
                               f"SELECT {column} FROM reports WHERE id = $1", report)
        await expect_error(app_conn, ACCESS_DENIED, "SELECT to_jsonb(r) FROM reports r")
        await expect_error(app_conn, RAISED, "SELECT * FROM public.admin_open_reports()",
                           message="forbidden:")
    async with acting_as(app_conn, as_user(admin)):  # the queue holds open reports only
        assert await app_conn.fetchval(
            "SELECT count(*) FROM public.admin_open_reports() WHERE id = $1", report) == 0


async def test_hidden_content_stays_hidden_from_everyone_but_author_and_admins(app_conn, owner_conn):
    author, reader = await make_user(owner_conn), await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    await owner_conn.execute("UPDATE posts SET hidden_at = now() WHERE id = $1", post)
    seen = {}
    for who, caller in (("anon", ANON), ("reader", as_user(reader)),
                        ("author", as_user(author)), ("admin", as_user(admin))):
        async with acting_as(app_conn, caller):
            seen[who] = await app_conn.fetchval("SELECT count(*) FROM posts WHERE id = $1", post)
    assert seen == {"anon": 0, "reader": 0, "author": 1, "admin": 1}
    async with acting_as(app_conn, as_user(author)):
        # The author may edit the post, never un-hide it.
        await expect_error(app_conn, ACCESS_DENIED, "UPDATE posts SET hidden_at = NULL WHERE id = $1",
                           post)
        assert await affected(app_conn, "UPDATE posts SET title = 'Edited' WHERE id = $1", post) == 1
        # Nor lift a suspension.
        await expect_error(app_conn, ACCESS_DENIED,
                           "UPDATE users SET suspended_until = NULL WHERE id = $1", author)


async def test_moderation_functions_are_for_admins(app_conn, owner_conn):
    author, student = await make_user(owner_conn), await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    post = await make_post(owner_conn, author)
    calls = [
        ("SELECT public.moderate('post', $1, 'delete', 'x', NULL, NULL)", (post,)),
        ("SELECT public.admin_end_sessions($1, 'x', NULL)", (author,)),
        ("SELECT public.admin_set_hide_threshold(1, 'x', NULL)", ()),
        ("SELECT public.admin_report_target_state('post', $1)", (post,)),
    ]
    async with acting_as(app_conn, as_user(student)):
        for sql, args in calls:
            await expect_error(app_conn, RAISED, sql, *args, message="forbidden:")
        # The server's own and the internal functions are not callable at all.
        await expect_error(app_conn, ACCESS_DENIED,
                           "SELECT public.audit_security_event('forged', NULL, '{}', NULL)")
        await expect_error(app_conn, ACCESS_DENIED,
                           "SELECT * FROM public.report_target_state('post', $1)", post)
    async with acting_as(app_conn, as_user(admin)):
        result = await app_conn.fetchval(
            "SELECT public.moderate('post', $1, 'delete', 'Spam', NULL, 'req-1')", post)
        assert '"state": "deleted"' in result
        assert await app_conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'moderation.delete'"
            " AND request_id = 'req-1'") == 1


async def test_moderating_what_never_existed_is_not_found(app_conn, owner_conn):
    """An id that no row and no report ever named: ``not_found``, nothing resolved or
    audited. A target gone since it was reported stays moderatable (its reports are open)."""
    author, reporter = await make_user(owner_conn), await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    nowhere = await owner_conn.fetchval("SELECT gen_random_uuid()")
    post = await make_post(owner_conn, author)
    await owner_conn.execute(
        "INSERT INTO reports (reporter_id, target_type, target_id, reason)"
        " VALUES ($1, 'post', $2, 'spam')", reporter, post)
    await owner_conn.execute("DELETE FROM posts WHERE id = $1", post)
    async with acting_as(app_conn, as_user(reporter)):
        # Nobody else learns whether an id exists.
        await expect_error(app_conn, RAISED,
                           "SELECT public.moderate('post', $1, 'dismiss', NULL, NULL, NULL)",
                           nowhere, message="forbidden:")
        await expect_error(app_conn, ACCESS_DENIED,
                           "SELECT public.moderate_target('post', $1, 'dismiss', NULL, NULL, NULL)",
                           post)
    async with acting_as(app_conn, as_user(admin)):
        for kind, action in (("post", "dismiss"), ("comment", "warn"), ("user", "suspend")):
            await expect_error(
                app_conn, RAISED,
                "SELECT public.moderate($1::report_target, $2, $3, 'why', now() + interval '1 day', NULL)",
                kind, nowhere, action, message="not_found:")
        assert await app_conn.fetchval("SELECT count(*) FROM audit_log") == 0
        result = await app_conn.fetchval(
            "SELECT public.moderate('post', $1, 'dismiss', NULL, NULL, NULL)", post)
        assert '"reports_resolved": 1' in result and '"state": "deleted"' in result
