"""Account deletion in SQL: only one's own account, and the audit log gives up nothing but
the deleted actor's id."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    acting_as,
    as_user,
    expect_error,
    make_post,
    make_room,
    make_user,
    set_caller,
)


async def test_a_user_deletes_only_their_own_account(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    await make_room(owner_conn, alice, [bob])
    await make_post(owner_conn, bob)
    async with acting_as(app_conn, ANON):
        await expect_error(app_conn, ACCESS_DENIED, "SELECT public.delete_own_account(NULL)")
    async with acting_as(app_conn, as_user(alice)):
        # No request role deletes a user row directly, their own included.
        await expect_error(app_conn, ACCESS_DENIED, "DELETE FROM users WHERE id = $1", bob)
        await expect_error(app_conn, ACCESS_DENIED, "DELETE FROM users WHERE id = $1", alice)
    async with acting_as(app_conn, as_user(alice)):
        gone = await app_conn.fetchval("SELECT public.delete_own_account('r1')")
        assert '"posts": 0' in gone
        assert await app_conn.fetchval("SELECT count(*) FROM users WHERE id = $1", alice) == 0
        assert await app_conn.fetchval("SELECT count(*) FROM users WHERE id = $1", bob) == 1


async def test_the_audit_log_forgets_a_deleted_actor_and_nothing_else(owner_conn):
    admin = await make_user(owner_conn, role="admin")
    await owner_conn.execute(
        "INSERT INTO audit_log (actor_id, action, reason) VALUES ($1, 'test', 'kept')", admin)
    await expect_error(owner_conn, RAISED,
                       "UPDATE audit_log SET actor_id = NULL, reason = 'rewritten'",
                       message="forbidden:")
    await expect_error(owner_conn, RAISED, "UPDATE audit_log SET actor_id = gen_random_uuid()",
                       message="forbidden:")
    await owner_conn.execute("DELETE FROM users WHERE id = $1", admin)
    row = await owner_conn.fetchrow("SELECT actor_id, reason FROM audit_log")
    assert (row["actor_id"], row["reason"]) == (None, "kept")



async def test_a_mail_token_is_bound_to_the_address_it_was_sent_to(app_conn, owner_conn):
    gina = await make_user(owner_conn, username="gina")
    for purpose, digest in (("verify_email", b"v1"), ("password_reset", b"r1")):
        assert await owner_conn.fetchval(
            "SELECT focushub_auth.issue_mail_token('gina@example.org', $1, $2,"
            " now() + interval '1 hour', 's', 'b')", purpose, digest) is not None
    # The address changes under the tokens (by hand here; change_email is tested below).
    await owner_conn.execute("UPDATE users SET email = 'victim@corp.example' WHERE id = $1", gina)
    async with acting_as(app_conn, ANON):
        assert await app_conn.fetchval("SELECT focushub_auth.verify_email($1)", b"v1") is False
        assert await app_conn.fetchval(
            "SELECT focushub_auth.reset_password($1, 'x')", b"r1") is False
        assert await app_conn.fetchval(
            "SELECT is_verified FROM users WHERE id = $1", gina) is False
    # Back at the address they were sent to, they work.
    await owner_conn.execute("UPDATE users SET email = 'gina@example.org' WHERE id = $1", gina)
    async with acting_as(app_conn, ANON):
        assert await app_conn.fetchval("SELECT focushub_auth.verify_email($1)", b"v1") is True
        assert await app_conn.fetchval(
            "SELECT focushub_auth.reset_password($1, 'x')", b"r1") is True


async def test_changing_the_password_or_the_email_revokes_mailed_tokens(app_conn, owner_conn):
    hank = await make_user(owner_conn, username="hank")

    async def issue(purpose: str, digest: bytes) -> None:
        assert await owner_conn.fetchval(
            "SELECT focushub_auth.issue_mail_token('hank@example.org', $1, $2,"
            " now() + interval '1 hour', 's', 'b')", purpose, digest) is not None

    async def outstanding() -> set[bytes]:
        return {r[0] for r in await owner_conn.fetch(
            "SELECT token_hash FROM focushub_auth.one_time_tokens"
            " WHERE user_id = $1 AND used_at IS NULL", hank)}

    await issue("verify_email", b"v1")
    await issue("password_reset", b"r1")
    async with app_conn.transaction():
        await set_caller(app_conn, as_user(hank))
        await app_conn.execute("SELECT public.change_password('new hash', NULL)")
    assert await outstanding() == {b"v1"}
    await issue("password_reset", b"r2")
    async with app_conn.transaction():
        await set_caller(app_conn, as_user(hank))
        # The same address (in another case) is no change, and revokes nothing.
        await app_conn.execute("SELECT public.change_email('HANK@example.org')")
    assert await outstanding() == {b"v1", b"r2"}
    async with app_conn.transaction():
        await set_caller(app_conn, as_user(hank))
        await app_conn.execute("SELECT public.change_email('hank@elsewhere.example')")
    assert await outstanding() == set()
