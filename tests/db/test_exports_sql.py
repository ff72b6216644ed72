"""Account exports' table and function in SQL (0033): owner-only reading, no writes from
requests, one queued or running export per person, and the objects of deleted rows queued."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    acting_as,
    affected,
    as_user,
    expect_error,
    make_user,
    set_caller,
)

SHA = "c" * 64


async def request(conn, user) -> tuple:
    """request_account_export() as ``user``, committed."""
    async with conn.transaction():
        await set_caller(conn, as_user(user))
        row = await conn.fetchrow("SELECT id, created FROM public.request_account_export()")
    return row["id"], row["created"]


async def test_one_export_at_a_time_and_a_new_one_replaces_the_finished(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    first, created = await request(app_conn, alice)
    assert created
    assert await request(app_conn, alice) == (first, False)
    # Bob's is his own.
    theirs, created = await request(app_conn, bob)
    assert created and theirs != first
    # Running still counts as one; once ready, asking again makes a new one and the ready
    # one goes, its object queued for deletion.
    await owner_conn.execute("UPDATE account_exports SET status = 'running' WHERE id = $1", first)
    assert await request(app_conn, alice) == (first, False)
    await owner_conn.execute(
        "UPDATE account_exports SET status = 'ready', storage_key = 'export/done',"
        " file_name = 'a.zip', size = 10, sha256 = $2, expires_at = now() + interval '1 day'"
        " WHERE id = $1", first, SHA)
    second, created = await request(app_conn, alice)
    assert created and second != first
    assert await owner_conn.fetchval("SELECT count(*) FROM account_exports WHERE user_id = $1",
                                     alice) == 1
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM storage_deletions WHERE storage_key = 'export/done'") == 1
    # Only one queued or running per person, whoever writes.
    await expect_error(owner_conn, "23505",
                       "INSERT INTO account_exports (user_id) VALUES ($1)", alice)


async def test_only_the_owner_reads_and_no_request_writes(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    export, _ = await request(app_conn, alice)
    for caller, seen in ((as_user(alice), 1), (as_user(bob), 0), (as_user(admin), 0)):
        async with acting_as(app_conn, caller):
            assert await app_conn.fetchval("SELECT count(*) FROM account_exports") == seen
            await expect_error(app_conn, ACCESS_DENIED,
                               "UPDATE account_exports SET status = 'ready' WHERE id = $1", export)
            await expect_error(app_conn, ACCESS_DENIED,
                               "DELETE FROM account_exports WHERE id = $1", export)
            await expect_error(app_conn, ACCESS_DENIED,
                               "INSERT INTO account_exports (user_id) VALUES ($1)", bob)
    async with acting_as(app_conn, ANON):
        await expect_error(app_conn, ACCESS_DENIED, "SELECT count(*) FROM account_exports")
        await expect_error(app_conn, ACCESS_DENIED, "SELECT public.request_account_export()")
    # A token of an account that is gone asks for nothing.
    await owner_conn.execute("DELETE FROM users WHERE id = $1", bob)
    async with acting_as(app_conn, as_user(bob)):
        await expect_error(app_conn, RAISED, "SELECT public.request_account_export()",
                           message="not_found:")


async def test_a_ready_export_s_object_is_queued_when_its_account_goes(app_conn, owner_conn):
    carol = await make_user(owner_conn)
    export, _ = await request(app_conn, carol)
    await owner_conn.execute(
        "UPDATE account_exports SET status = 'ready', storage_key = 'export/carol',"
        " file_name = 'c.zip', size = 10, sha256 = $2, expires_at = now() + interval '1 day'"
        " WHERE id = $1", export, SHA)
    # Ready means its object is named; nothing else may claim to be ready.
    await expect_error(owner_conn, "23514",
                       "UPDATE account_exports SET storage_key = NULL WHERE id = $1", export)
    assert await affected(owner_conn, "DELETE FROM users WHERE id = $1", carol) == 1
    assert await owner_conn.fetchval("SELECT count(*) FROM account_exports WHERE id = $1",
                                     export) == 0
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM storage_deletions WHERE storage_key = 'export/carol'") == 1
