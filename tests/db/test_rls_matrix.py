"""The access matrix: every RLS table × SELECT/INSERT/UPDATE/DELETE × four callers, in SQL.

The tables come from the catalog at test time (``pg_class.relrowsecurity`` in ``public``),
so a table added later without a line in ``MATRIX`` fails ``test_every_rls_table_has_a_row``
instead of going unchecked. Each table's statements act on one row of a small world:

- **owner** is the row's author or owner (the post's author, the vote's voter, the room's
  creator, the report's reporter, the notification's recipient…);
- **other** is another signed-in user with no part in the row;
- **admin** is a signed-in user whose ``users.role`` is ``admin``;
- **anon** has no token.

SELECT counts the row; UPDATE and DELETE target it by key; INSERT writes a new row in the
owner's name (``author_id`` = the owner…), so its cells say who may create rows for the
owner. Two tables cannot name anyone but the caller, and INSERT there is the caller's own:
``reports`` (``reporter_id`` defaults to ``auth.uid()``) and ``moderation_settings`` (a
singleton). Every statement runs as the caller exactly as ``focushub/core/db.py`` sets it,
in a transaction that is rolled back. An outcome is one of

    ``+`` allowed (the row is seen or changed),
    ``0`` no rows visible or affected (RLS filtered it out),
    ``x`` refused by privilege or policy (SQLSTATE 42501, or our trigger's ``RAISE``).

Any other error means the statement itself is wrong and fails the test as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import asyncpg

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    SERVICE,
    Caller,
    as_user,
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

CALLERS = ("anon", "owner", "other", "admin")
OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE")
ALLOWED, NO_ROWS, REFUSED = "+", "0", "x"

# One line per table: the expected outcome of each operation for anon, owner, other, admin.
# Two lines that read oddly: an admin may close or reopen any question but not rewrite it
# (``check_question_update`` refuses the title change), and no one deletes a chat message
# row (a deletion is ``chat_delete_message()``, which keeps the row, blanks it and sets
# ``deleted_at``).
#                               SELECT   INSERT   UPDATE   DELETE
#                               a o u A  a o u A  a o u A  a o u A
MATRIX: dict[str, str] = {
    "users":                    "+ + + +  x x x x  x + 0 0  x x x x",
    "posts":                    "+ + + +  x + x x  x + 0 0  x + 0 +",
    "comments":                 "+ + + +  x + x x  x + 0 0  x + 0 +",
    "questions":                "+ + + +  x + x x  x + 0 x  x + 0 +",
    "answers":                  "+ + + +  x + x x  x + 0 0  x + 0 +",
    "ai_answers":               "+ + + +  x x x x  x x x x  x x x x",
    "resources":                "+ + + +  x + x x  x + 0 0  x + 0 +",
    "stored_files":             "0 + 0 0  x + x x  x x x x  x + 0 0",
    "resource_downloads":       "x x x x  x x x x  x x x x  x x x x",
    "storage_deletions":        "x x x x  x x x x  x x x x  x x x x",
    "votes":                    "x + 0 0  x + x x  x + 0 0  x + 0 0",
    "followers":                "+ + + +  x + x x  x x x x  x + 0 0",
    "question_views":           "x x x x  x x x x  x x x x  x x x x",
    "chat_rooms":               "x + 0 0  x + x x  x + 0 0  x + 0 0",
    "chat_room_participants":   "x + 0 0  x + x x  x + 0 0  x + 0 0",
    "chat_messages":            "x + 0 0  x + x x  x + 0 0  x x x x",
    "chat_room_events":         "x + 0 0  x x x x  x x x x  x x x x",
    "notifications":            "x + 0 0  x x x x  x + 0 0  x + 0 0",
    "notification_preferences": "x + 0 0  x + x x  x + 0 0  x x x x",
    "reports":                  "x + 0 +  x + + +  x x x x  x x x x",
    "moderation_settings":      "x 0 0 +  x x x x  x x x x  x x x x",
    "audit_log":                "x 0 0 +  x x x x  x x x x  x x x x",
    "rate_limits":              "x x x x  x x x x  x x x x  x x x x",
    "alembic_version":          "x x x x  x x x x  x x x x  x x x x",
    "user_blocks":              "x + 0 0  x + x x  x x x x  x + 0 0",
    "user_mutes":               "x + 0 0  x + x x  x x x x  x + 0 0",
    "room_mutes":               "x + 0 0  x + x x  x x x x  x + 0 0",
    "user_privacy":             "x + 0 0  x + x x  x + 0 0  x x x x",
    "account_exports":          "x + 0 0  x x x x  x x x x  x x x x",
    "chat_invitations":         "x + 0 0  x x x x  x x x x  x 0 0 0",
}


@dataclass(frozen=True)
class Statements:
    """SQL for one table; ``$n`` placeholders take the world's values named in ``args``."""

    select: tuple[str, tuple[str, ...]]
    insert: tuple[str, tuple[str, ...]]
    update: tuple[str, tuple[str, ...]]
    delete: tuple[str, tuple[str, ...]]
    # Run as service_role before an INSERT, in the same rolled-back transaction (to make
    # room for a row the world already has).
    before_insert: tuple[str, tuple[str, ...]] | None = None

    def for_operation(self, operation: str) -> tuple[str, tuple[str, ...]]:
        return getattr(self, operation.lower())


def _by_key(table: str, key: str, names: tuple[str, ...], insert: tuple[str, tuple[str, ...]],
            update_set: str, **extra: Any) -> Statements:
    """Statements on the one row of ``table`` matching ``key``."""
    return Statements(
        select=(f"SELECT count(*) FROM {table} WHERE {key}", names),
        insert=insert,
        update=(f"UPDATE {table} SET {update_set} WHERE {key}", names),
        delete=(f"DELETE FROM {table} WHERE {key}", names),
        **extra,
    )


ID = "id = $1"
SHA = "0" * 64

STATEMENTS: dict[str, Statements] = {
    "users": _by_key(
        "users", ID, ("owner",),
        ("INSERT INTO users (email, full_name, username)"
         " VALUES ('new@example.org', 'New', 'newcomer')", ()),
        "bio = 'changed'"),
    "posts": _by_key(
        "posts", ID, ("post",),
        ("INSERT INTO posts (author_id, title, content) VALUES ($1, 'T', 'C')", ("owner",)),
        "title = 'changed'"),
    "comments": _by_key(
        "comments", ID, ("comment",),
        ("INSERT INTO comments (post_id, author_id, content) VALUES ($1, $2, 'C')",
         ("post", "owner")),
        "content = 'changed'"),
    "questions": _by_key(
        "questions", ID, ("question",),
        ("INSERT INTO questions (author_id, title, content) VALUES ($1, 'How?', 'Why?')",
         ("owner",)),
        "title = 'changed'"),
    "answers": _by_key(
        "answers", ID, ("answer",),
        ("INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'A')",
         ("other_question", "owner")),
        "content = 'changed'"),
    "ai_answers": _by_key(
        "ai_answers", ID, ("ai_answer",),
        ("INSERT INTO ai_answers (question_id, answer_text) VALUES ($1, 'A')", ("question",)),
        "answer_text = 'changed'"),
    "resources": _by_key(
        "resources", ID, ("resource",),
        ("INSERT INTO resources (author_id, title, file_url, file_name, file_size, file_type)"
         " VALUES ($1, 'T', 'u', 'a.pdf', 1, 'application/pdf')", ("owner",)),
        "title = 'changed'"),
    "stored_files": _by_key(
        "stored_files", ID, ("file",),
        ("INSERT INTO stored_files (owner_id, purpose, storage_key, file_name, content_type,"
         f" size, sha256) VALUES ($1, 'resource', 'resource/new', 'a.txt', 'text/plain', 1,"
         f" '{SHA}')", ("owner",)),
        "file_name = 'changed.txt'"),
    "resource_downloads": _by_key(
        "resource_downloads", "resource_id = $1", ("resource",),
        ("INSERT INTO resource_downloads (resource_id, downloader_key, day)"
         " VALUES ($1, 'someone-else', current_date)", ("resource",)),
        "downloader_key = 'changed'"),
    "storage_deletions": _by_key(
        "storage_deletions", "storage_key = 'resource/gone'", (),
        ("INSERT INTO storage_deletions (storage_key) VALUES ('resource/other')", ()),
        "queued_at = now()"),
    "votes": _by_key(
        "votes", ID, ("vote",),
        ("INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
         " VALUES ($1, 'question', $2, 'upvote')", ("owner", "other_question")),
        "vote_type = 'downvote'"),
    "followers": _by_key(
        "followers", "follower_id = $1 AND following_id = $2", ("owner", "followed"),
        ("INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
         ("owner", "bystander")),
        "following_id = following_id"),
    "question_views": _by_key(
        "question_views", "question_id = $1", ("question",),
        ("INSERT INTO question_views (question_id, viewer_key, day)"
         " VALUES ($1, 'someone-else', current_date)", ("question",)),
        "viewer_key = 'changed'"),
    "chat_rooms": _by_key(
        "chat_rooms", ID, ("room",),
        ("INSERT INTO chat_rooms (name, type, created_by) VALUES ('R', 'group', $1)",
         ("owner",)),
        "name = 'changed'"),
    "chat_room_participants": _by_key(
        "chat_room_participants", "room_id = $1 AND user_id = $2", ("room", "owner"),
        ("INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)",
         ("room", "fan")),
        "last_read_at = now()"),
    "chat_messages": _by_key(
        "chat_messages", ID, ("message",),
        ("INSERT INTO chat_messages (room_id, sender_id, content) VALUES ($1, $2, 'hi')",
         ("room", "owner")),
        "content = 'changed'"),
    "chat_room_events": _by_key(
        "chat_room_events", "room_id = $1", ("room",),
        ("INSERT INTO chat_room_events (room_id, seq, type, payload)"
         " VALUES ($1, 1000, 'message.created', '{}')", ("room",)),
        "type = 'changed'"),
    "notifications": _by_key(
        "notifications", ID, ("notification",),
        ("INSERT INTO notifications (user_id, type, title, message)"
         " VALUES ($1, 'follow', 'T', 'M')", ("owner",)),
        "is_read = true"),
    "notification_preferences": _by_key(
        "notification_preferences", "user_id = $1", ("owner",),
        ("INSERT INTO notification_preferences (user_id) VALUES ($1)", ("owner",)),
        "on_like = false",
        before_insert=("DELETE FROM notification_preferences WHERE user_id = $1", ("owner",))),
    "reports": _by_key(
        "reports", ID, ("report",),
        ("INSERT INTO reports (target_type, target_id, reason) VALUES ('question', $1, 'spam')",
         ("bystander_question",)),
        "details = 'changed'"),
    "moderation_settings": _by_key(
        "moderation_settings", "id", (),
        ("INSERT INTO moderation_settings (id) VALUES (false)", ()),
        "hide_threshold = 5"),
    "audit_log": _by_key(
        "audit_log", ID, ("audit",),
        ("INSERT INTO audit_log (actor_id, action) VALUES ($1, 'user.role')", ("owner",)),
        "reason = 'changed'"),
    "alembic_version": _by_key(
        "alembic_version", "version_num IS NOT NULL", (),
        ("INSERT INTO alembic_version (version_num) VALUES ('forged')", ()),
        "version_num = 'forged'"),
    "rate_limits": _by_key(
        "rate_limits", "key = 'login:203.0.113.7'", (),
        ("INSERT INTO rate_limits (key, tat) VALUES ('login:203.0.113.8', now())", ()),
        "tat = now()"),
    "user_blocks": _by_key(
        "user_blocks", "blocker_id = $1 AND blocked_id = $2", ("owner", "blocked"),
        ("INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)",
         ("owner", "bystander")),
        "created_at = now()"),
    "user_mutes": _by_key(
        "user_mutes", "muter_id = $1 AND muted_id = $2", ("owner", "muted"),
        ("INSERT INTO user_mutes (muter_id, muted_id) VALUES ($1, $2)", ("owner", "bystander")),
        "created_at = now()"),
    "room_mutes": _by_key(
        "room_mutes", "user_id = $1 AND room_id = $2", ("owner", "room"),
        ("INSERT INTO room_mutes (user_id, room_id) VALUES ($1, $2)", ("owner", "quiet_room")),
        "created_at = now()"),
    # One row per user, which the owner already has and no one may delete: the INSERT is the
    # upsert users.service makes.
    "user_privacy": _by_key(
        "user_privacy", "user_id = $1", ("owner",),
        ("INSERT INTO user_privacy (user_id, dm_from) VALUES ($1, 'following')"
         " ON CONFLICT (user_id) DO UPDATE SET dm_from = excluded.dm_from", ("owner",)),
        "show_email = true"),
    # Made by request_account_export() and moved on by the export job (service_role) only.
    "account_exports": _by_key(
        "account_exports", ID, ("export",),
        ("INSERT INTO account_exports (user_id) VALUES ($1)", ("other",)),
        "status = 'failed'"),
    # The owner is the invitee (of a group of the bystander's); answers go through
    # chat_accept_invitation() and chat_decline_invitation() only, and only the room's admins
    # (the bystander) withdraw it.
    "chat_invitations": _by_key(
        "chat_invitations", "room_id = $1 AND user_id = $2", ("invite_room", "owner"),
        ("INSERT INTO chat_invitations (room_id, user_id, invited_by) VALUES ($1, $2, $3)",
         ("quiet_room", "owner", "bystander")),
        "declined_at = now()"),
}


def parse_line(line: str) -> dict[tuple[str, str], str]:
    cells = line.split()
    assert len(cells) == 16 and set(cells) <= {ALLOWED, NO_ROWS, REFUSED}, line
    return {(op, caller): cells[i * 4 + j]
            for i, op in enumerate(OPERATIONS) for j, caller in enumerate(CALLERS)}


async def world_of(o: asyncpg.Connection) -> SimpleNamespace:
    """One row per table, owned by ``owner``; ``other`` and ``admin`` have no part in them;
    ``followed`` is followed by the owner, ``bystander`` is in nothing yet."""
    w = SimpleNamespace()
    w.owner = await make_user(o)
    w.other = await make_user(o)
    w.admin = await make_user(o, role="admin")
    w.followed = await make_user(o)
    w.bystander = await make_user(o)
    # Follows the owner: added to the owner's rooms at once (a stranger would be invited).
    w.fan = await make_user(o)
    await o.execute("INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
                    w.fan, w.owner)
    w.post = await make_post(o, w.owner)
    w.comment = await make_comment(o, w.post, w.owner)
    w.question = await make_question(o, w.owner)
    w.other_question = await make_question(o, w.other)
    w.bystander_question = await make_question(o, w.bystander)
    w.answer = await make_answer(o, w.other_question, w.owner)
    w.ai_answer = await o.fetchval(
        "INSERT INTO ai_answers (question_id, answer_text) VALUES ($1, 'A') RETURNING id",
        w.question)
    w.file = await o.fetchval(
        "INSERT INTO stored_files (owner_id, purpose, storage_key, file_name, content_type,"
        " size, sha256) VALUES ($1, 'resource', 'resource/mine', 'notes.txt', 'text/plain', 5,"
        " $2) RETURNING id", w.owner, SHA)
    w.resource = await make_resource(o, w.owner)
    await o.execute("INSERT INTO resource_downloads (resource_id, downloader_key, day)"
                    " VALUES ($1, 'k', current_date)", w.resource)
    await o.execute("INSERT INTO storage_deletions (storage_key) VALUES ('resource/gone')")
    # On a question: only questions and answers take downvotes (0027), and UPDATE makes one.
    w.vote = await make_vote(o, w.owner, "question", w.bystander_question)
    await o.execute("INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
                    w.owner, w.followed)
    await o.execute("INSERT INTO question_views (question_id, viewer_key, day)"
                    " VALUES ($1, 'k', current_date)", w.question)
    w.room = await make_room(o, w.owner)
    w.message = await make_message(o, w.room, w.owner)
    w.notification = await make_notification(o, w.owner)
    await o.execute("INSERT INTO notification_preferences (user_id) VALUES ($1)", w.owner)
    w.report = await o.fetchval(
        "INSERT INTO reports (reporter_id, target_type, target_id, reason)"
        " VALUES ($1, 'question', $2, 'spam') RETURNING id", w.owner, w.other_question)
    w.audit = await o.fetchval(
        "INSERT INTO audit_log (actor_id, action, target_type, target_id)"
        " VALUES ($1, 'user.role', 'user', $2) RETURNING id", w.owner, w.other)
    # The migration's singleton, emptied with every table after each test.
    await o.execute("INSERT INTO moderation_settings DEFAULT VALUES ON CONFLICT DO NOTHING")
    # Tables of later migrations, when present. The blocked and muted users have no part
    # in any other row, so the block changes nothing else the matrix reads.
    w.blocked, w.muted = await make_user(o), await make_user(o)
    w.quiet_room = await make_room(o, w.owner)
    present = {r["relname"] for r in await o.fetch(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace")}
    if "rate_limits" in present:
        await o.execute("INSERT INTO rate_limits (key, tat) VALUES ('login:203.0.113.7', now())")
    if "user_blocks" in present:
        await o.execute("INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                        w.owner, w.blocked)
    if "user_mutes" in present:
        await o.execute("INSERT INTO user_mutes (muter_id, muted_id) VALUES ($1, $2)",
                        w.owner, w.muted)
    if "user_privacy" in present:
        await o.execute("INSERT INTO user_privacy (user_id) VALUES ($1)", w.owner)
    if "chat_invitations" in present:
        w.invite_room = await make_room(o, w.bystander)
        await o.execute("INSERT INTO chat_invitations (room_id, user_id, invited_by)"
                        " VALUES ($1, $2, $3)", w.invite_room, w.owner, w.bystander)
    if "room_mutes" in present:
        await o.execute("INSERT INTO room_mutes (user_id, room_id) VALUES ($1, $2)",
                        w.owner, w.room)
    if "account_exports" in present:
        w.export = await o.fetchval(
            "INSERT INTO account_exports (user_id) VALUES ($1) RETURNING id", w.owner)
    return w


def caller_of(name: str, w: SimpleNamespace) -> Caller:
    return ANON if name == "anon" else as_user(getattr(w, name))


async def outcome(conn: asyncpg.Connection, operation: str, sql: str, args: list[Any]) -> str:
    """Run one statement (already as the caller) in a savepoint and classify what happened."""
    try:
        async with conn.transaction():
            if operation == "SELECT":
                count = await conn.fetchval(sql, *args)
            else:
                status = await conn.execute(sql, *args)
                count = int(status.rsplit(" ", 1)[-1])
    except asyncpg.PostgresError as err:
        if err.sqlstate in (ACCESS_DENIED, RAISED):
            return REFUSED
        raise AssertionError(f"{sql!r} failed for another reason: {err.sqlstate} {err}") from err
    return ALLOWED if count else NO_ROWS


async def run_cell(app_conn: asyncpg.Connection, w: SimpleNamespace, statements: Statements,
                   operation: str, caller: str) -> str:
    sql, names = statements.for_operation(operation)
    args = [getattr(w, name) for name in names]
    tx = app_conn.transaction()
    await tx.start()
    try:
        if operation == "INSERT" and statements.before_insert is not None:
            before_sql, before_names = statements.before_insert
            await set_caller(app_conn, SERVICE)
            await app_conn.execute(before_sql, *[getattr(w, n) for n in before_names])
        await set_caller(app_conn, caller_of(caller, w))
        return await outcome(app_conn, operation, sql, args)
    finally:
        await tx.rollback()


async def rls_tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                            " AND relkind IN ('r', 'p') AND relrowsecurity")
    return {r["relname"] for r in rows}


async def test_every_rls_table_has_a_row(owner_conn):
    tables = await rls_tables(owner_conn)
    assert "posts" in tables and "chat_room_events" in tables  # the catalog query works
    missing = sorted(tables - MATRIX.keys())
    assert not missing, f"RLS tables without a line in MATRIX (write their expectations): {missing}"
    assert MATRIX.keys() == STATEMENTS.keys()
    # A table without RLS would escape the matrix: every public table has it.
    unprotected = await owner_conn.fetch(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind IN ('r', 'p') AND NOT relrowsecurity AND relname <> 'alembic_version'")
    assert not unprotected, [r["relname"] for r in unprotected]


async def test_the_access_matrix(owner_conn, app_conn):
    w = await world_of(owner_conn)
    tables = await rls_tables(owner_conn)
    mismatches: list[str] = []
    cells = 0
    for table, line in MATRIX.items():
        if table not in tables:  # a table of a later migration may be absent
            continue
        for (operation, caller), expected in parse_line(line).items():
            got = await run_cell(app_conn, w, STATEMENTS[table], operation, caller)
            cells += 1
            if got != expected:
                mismatches.append(f"{table:26} {operation:6} {caller:5} expected {expected} got {got}")
    assert cells >= 22 * 16
    assert not mismatches, "\n" + "\n".join(mismatches)


async def test_no_request_role_touches_the_credential_tables(owner_conn, app_conn):
    """Credentials, refresh tokens, one-time tokens and the mail outbox: every cell refused."""
    tables = await owner_conn.fetch(
        "SELECT c.relname, (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0"
        " AND attidentity = '' AND attgenerated = '' AND NOT attisdropped ORDER BY attnum LIMIT 1)"
        " AS col FROM pg_class c WHERE c.relnamespace = 'focushub_auth'::regnamespace AND c.relkind = 'r'"
        " ORDER BY 1")
    names = {t["relname"] for t in tables}
    assert {"credentials", "refresh_tokens", "one_time_tokens", "mail_outbox"} <= names
    w = SimpleNamespace(owner=await make_user(owner_conn), other=await make_user(owner_conn),
                        admin=await make_user(owner_conn, role="admin"))
    leaks = []
    for t in tables:
        table, col = f'focushub_auth."{t["relname"]}"', f'"{t["col"]}"'
        statements = Statements(
            select=(f"SELECT count(*) FROM {table}", ()),
            insert=(f"INSERT INTO {table} DEFAULT VALUES", ()),
            update=(f"UPDATE {table} SET {col} = {col}", ()),
            delete=(f"DELETE FROM {table}", ()),
        )
        for operation in OPERATIONS:
            for caller in CALLERS:
                got = await run_cell(app_conn, w, statements, operation, caller)
                if got != REFUSED:
                    leaks.append(f"{table} {operation} {caller}: {got}")
    assert not leaks, leaks
