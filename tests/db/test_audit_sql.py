"""The audit log is append-only for everyone, and readable by admins only."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    acting_as,
    as_user,
    expect_error,
    make_user,
)


async def test_nobody_writes_or_rewrites_the_audit_log(app_conn, owner_conn):
    student = await make_user(owner_conn)
    admin = await make_user(owner_conn, role="admin")
    await owner_conn.execute("INSERT INTO audit_log (action, reason) VALUES ('test', 'kept')")
    for caller in (ANON, as_user(student), as_user(admin)):
        async with acting_as(app_conn, caller):
            await expect_error(app_conn, ACCESS_DENIED,
                               "INSERT INTO audit_log (action) VALUES ('forged')")
            await expect_error(app_conn, ACCESS_DENIED, "UPDATE audit_log SET reason = 'x'")
            await expect_error(app_conn, ACCESS_DENIED, "DELETE FROM audit_log")
    async with acting_as(app_conn, as_user(student)):
        assert await app_conn.fetchval("SELECT count(*) FROM audit_log") == 0
    async with acting_as(app_conn, as_user(admin)):
        assert await app_conn.fetchval("SELECT count(*) FROM audit_log") == 1
    # Even the owner's roles cannot rewrite history: the trigger refuses.
    await expect_error(owner_conn, RAISED, "UPDATE audit_log SET reason = 'rewritten'",
                       message="forbidden:")
    await expect_error(owner_conn, RAISED, "DELETE FROM audit_log", message="forbidden:")
