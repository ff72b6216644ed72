"""The revision chain applies to an empty database, rolls back exactly, and applies again.

"Exactly" is checked with a fingerprint of the catalogs of the ``public``,
``auth`` and ``focushub_auth`` schemas: every relation, column (type, nullability, default, ACL),
constraint, index, trigger, function (full definition and ACL), policy, enum
and comment. Each downgrade must restore the fingerprint its target revision
had on the way up. The session's server is always used; PostgreSQL 15 on
127.0.0.1:5432 is used as well when it answers.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from focushub.core import bootstrap
from focushub.migrations import runner

PG15_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

_SCHEMAS = "('public', 'auth', 'focushub_auth')"
_NS = f"(SELECT oid FROM pg_namespace WHERE nspname IN {_SCHEMAS})"
_ACL = "(SELECT coalesce(string_agg(x::text, ',' ORDER BY x::text), '') FROM unnest({acl}) x)"
# A NULL ACL means the built-in default; after GRANT + REVOKE it is spelled out. Compare both alike.
_REL_ACL = _ACL.format(
    acl="coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's'::\"char\" ELSE 'r'::\"char\" END,"
    " c.relowner))"
)

FINGERPRINT_QUERIES = {
    "schema": f"""
        SELECT n.nspname || ' acl=' || {_ACL.format(acl="coalesce(n.nspacl, acldefault('n', n.nspowner))")}
               || ' comment=' || coalesce(obj_description(n.oid, 'pg_namespace'), '')
        FROM pg_namespace n WHERE n.oid IN {_NS}""",
    "relation": f"""
        SELECT c.oid::regclass::text || ' kind=' || c.relkind::text
               || ' rls=' || c.relrowsecurity::text || '/' || c.relforcerowsecurity::text
               || ' acl=' || {_REL_ACL}
               || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
        FROM pg_class c
        WHERE c.relnamespace IN {_NS} AND c.relname NOT LIKE 'alembic_version%'""",
    "column": f"""
        SELECT c.oid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
               || ' notnull=' || a.attnotnull::text || ' generated=' || a.attgenerated::text
               || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
               || ' acl=' || {_ACL.format(acl="a.attacl")}
               || ' comment=' || coalesce(col_description(c.oid, a.attnum), '')
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace IN {_NS} AND c.relkind IN ('r', 'v', 'm', 'p')
          AND c.relname NOT LIKE 'alembic_version%'""",
    "constraint": f"""
        SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE connamespace IN {_NS} AND contype <> 'n' AND conname NOT LIKE 'alembic_version%'""",
    "index": f"""
        SELECT pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relnamespace IN {_NS} AND c.relname NOT LIKE 'alembic_version%'""",
    "trigger": f"""
        SELECT pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace IN {_NS} AND NOT t.tgisinternal""",
    "function": f"""
        SELECT p.oid::regprocedure::text || ' acl=' || {_ACL.format(acl="coalesce(p.proacl, acldefault('f', p.proowner))")}
               || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
               || ' ' || pg_get_functiondef(p.oid)
        FROM pg_proc p WHERE p.pronamespace IN {_NS} AND p.prokind = 'f'""",
    "policy": f"""
        SELECT schemaname || '.' || tablename || ' ' || policyname || ' ' || permissive || ' '
               || roles::text || ' ' || cmd || ' using=' || coalesce(qual, '')
               || ' check=' || coalesce(with_check, '')
        FROM pg_policies WHERE schemaname IN {_SCHEMAS}""",
    "enum": f"""
        SELECT t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE t.typnamespace IN {_NS} GROUP BY t.typname""",
}


async def fingerprint(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        items: list[str] = []
        for kind, sql in FINGERPRINT_QUERIES.items():
            items += [f"{kind}: {row[0]}" for row in await conn.fetch(sql)]
        return sorted(items)
    finally:
        await conn.close()


def diff(before: list[str], after: list[str]) -> str:
    missing = sorted(set(before) - set(after))
    extra = sorted(set(after) - set(before))
    return "\nmissing:\n  " + "\n  ".join(missing) + "\nunexpected:\n  " + "\n  ".join(extra)


async def _pg15_reachable() -> str | None:
    """None if PostgreSQL answers on 127.0.0.1:5432 within 2 s, else why not."""
    try:
        conn = await asyncpg.connect(PG15_URL, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"no PostgreSQL at {PG15_URL} ({type(exc).__name__}: {exc})"
    await conn.close()
    return None


@pytest.fixture(params=["session_server", "pg15_loopback"])
async def server_url(request, test_db) -> AsyncIterator[str]:
    if request.param == "session_server":
        yield test_db.server_url
        return
    reason = await _pg15_reachable()
    if reason:
        pytest.skip(reason)
    yield PG15_URL


@pytest.fixture
async def fresh_database(server_url) -> AsyncIterator[str]:
    """A new, empty database on the server; dropped afterwards."""
    name = f"focushub_mig_{uuid.uuid4().hex[:10]}"
    assert await bootstrap.ensure_database(server_url, name)
    try:
        yield bootstrap.with_parts(server_url, database=name)
    finally:
        await bootstrap.drop_database(server_url, name)


async def test_upgrade_downgrade_upgrade_restores_every_revision(fresh_database):
    url = fresh_database
    empty = await fingerprint(url)
    # The catalog after every revision on the way up; each downgrade must restore exactly
    # the one before it (a wrong downgrade cannot hide behind a later one that drops more).
    chain = runner.revisions()
    on_the_way_up: dict[str, list[str]] = {}
    for revision in chain:
        runner.upgrade(url, revision)
        assert await runner.current_revision(url) == revision
        on_the_way_up[revision] = await fingerprint(url)
    assert chain[-1] == runner.head_revision()
    at_head = on_the_way_up[chain[-1]]

    for revision in reversed(chain[:-1]):
        runner.downgrade(url, revision)
        now = await fingerprint(url)
        assert now == on_the_way_up[revision], (
            f"downgrade to {revision} differs:{diff(on_the_way_up[revision], now)}"
        )
    runner.downgrade(url, "base")
    assert await runner.current_revision(url) is None
    now = await fingerprint(url)
    assert now == empty, f"downgrade to base leaves objects behind:{diff(empty, now)}"

    runner.upgrade(url, "head")
    now = await fingerprint(url)
    assert now == at_head, f"second upgrade differs:{diff(at_head, now)}"


async def test_the_seed_fixes_repair_data_written_under_the_seed(fresh_database):
    """0003 on a database that lived under the seed: NULL counters, drifted counts, orphans."""
    url = fresh_database
    runner.upgrade(url, "0002_seed_schema")
    conn = await asyncpg.connect(url)
    try:
        # What the seed's own triggers allowed (or failed to stop), written with
        # triggers off where they would have errored.
        await conn.execute("SET session_replication_role = replica")
        alice = await conn.fetchval(
            "INSERT INTO users (email, full_name, username, is_active) VALUES ('a@example.org', 'A', 'alice', NULL)"
            " RETURNING id"
        )
        bob = await conn.fetchval(
            "INSERT INTO users (email, full_name, username) VALUES ('b@example.org', 'B', 'bob') RETURNING id"
        )
        post = await conn.fetchval(
            "INSERT INTO posts (author_id, title, content, likes_count, comments_count)"
            " VALUES ($1, 'T', 'C', NULL, 99) RETURNING id",
            alice,
        )
        await conn.execute(
            "INSERT INTO comments (post_id, author_id, content) VALUES ($1, $2, 'c')", post, bob
        )
        question = await conn.fetchval(
            "INSERT INTO questions (author_id, title, content, votes_count) VALUES ($1, 'Q', 'B', 7) RETURNING id",
            alice,
        )
        await conn.execute(
            "INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'a')",
            question,
            bob,
        )
        await conn.executemany(
            "INSERT INTO votes (user_id, votable_type, votable_id, vote_type) VALUES ($1, $2, $3, 'upvote')",
            [
                (bob, "post", post),
                (bob, "question", question),
                (bob, "answer", uuid.uuid4()),
                (alice, "user", bob),
            ],
        )
        await conn.execute(
            "INSERT INTO ai_answers (question_id, answer_text) VALUES (NULL, 'lost')"
        )
        await conn.execute("SET session_replication_role = DEFAULT")
    finally:
        await conn.close()

    runner.upgrade(url, "head")
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT is_active FROM users WHERE id = $1", alice) is True
        assert tuple(
            await conn.fetchrow("SELECT likes_count, comments_count FROM posts WHERE id = $1", post)
        ) == (1, 1)
        assert tuple(
            await conn.fetchrow(
                "SELECT votes_count, answers_count FROM questions WHERE id = $1", question
            )
        ) == (1, 1)
        assert await conn.fetchval("SELECT count(*) FROM votes") == 2  # the two orphans are gone
        assert await conn.fetchval("SELECT count(*) FROM ai_answers") == 0
    finally:
        await conn.close()


def _migration(name: str):  # type: ignore[no-untyped-def]
    path = Path(runner.__file__).parent / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_an_install_with_credentials_in_auth_is_moved_and_keeps_its_sessions(server_url):
    """0032 on a database migrated when 0003/0004 still wrote into ``auth``.

    That layout is rebuilt from today's chain at 0030 by moving the objects back (the
    move is symmetric: tables and functions by ``SET SCHEMA``, bodies rewritten). After
    the upgrade the catalog must equal a fresh install's, and the account made before
    must still sign in and refresh its session.
    """
    move = _migration("0032_focushub_auth_schema")
    names = {}
    for role in ("legacy", "fresh"):
        names[role] = f"focushub_mig_{uuid.uuid4().hex[:10]}"
        assert await bootstrap.ensure_database(server_url, names[role])
    try:
        legacy = bootstrap.with_parts(server_url, database=names["legacy"])
        fresh = bootstrap.with_parts(server_url, database=names["fresh"])
        runner.upgrade(legacy, "0030_bookkeeping_privileges")
        conn = await asyncpg.connect(legacy)
        try:
            await conn.execute(move.move_sql("focushub_auth", "auth"))
            await conn.execute("DROP SCHEMA focushub_auth")  # 0001 did not make it then
            assert await conn.fetchval("SELECT to_regclass('auth.refresh_tokens')::text") == "auth.refresh_tokens"
            body = await conn.fetchval("SELECT prosrc FROM pg_proc WHERE oid = 'auth.rotate_session'::regproc")
            assert "auth.refresh_tokens" in body and "focushub_auth" not in body
            user = await conn.fetchval(
                "SELECT id FROM auth.sign_up('kim@example.org', 'argon-hash', 'Kim', 'kim')")
            family = await conn.fetchval(
                "SELECT auth.start_session($1, 'token-1'::bytea, now() + interval '1 day')", user)
        finally:
            await conn.close()

        runner.upgrade(legacy, "head")
        runner.upgrade(fresh, "head")
        moved, clean = await fingerprint(legacy), await fingerprint(fresh)
        assert moved == clean, f"moved install differs from a fresh one:{diff(clean, moved)}"

        conn = await asyncpg.connect(legacy)
        try:
            assert await conn.fetchval("SELECT to_regclass('auth.credentials')") is None
            assert await conn.fetchval(
                "SELECT password_hash FROM focushub_auth.login_lookup('kim@example.org')") == "argon-hash"
            rotated = await conn.fetchrow(
                "SELECT * FROM focushub_auth.rotate_session('token-1'::bytea, 'token-2'::bytea,"
                " now() + interval '1 day')")
            assert rotated is not None and rotated["user_id"] == user
            assert await conn.fetchval(
                "SELECT count(*) FROM focushub_auth.refresh_tokens WHERE family_id = $1", family) == 2
        finally:
            await conn.close()
    finally:
        for name in names.values():
            await bootstrap.drop_database(server_url, name)
