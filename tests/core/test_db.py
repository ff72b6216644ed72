"""The request transaction: role switch, claims, fail-closed login role, after-commit hooks."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from focushub.core.db import (
    ANONYMOUS,
    SERVICE,
    Caller,
    create_engine,
    direct_transaction,
    transaction,
)
from focushub.core.errors import AppError, Unauthorized
from focushub.core.pool import DirectPool


@pytest.fixture
async def engine(test_db):
    eng = create_engine(test_db.app_url, pool_size=1, max_overflow=0)
    yield eng
    await eng.dispose()


async def test_transaction_runs_as_caller_role_with_claims(engine):
    async with transaction(engine, ANONYMOUS) as tx:
        row = await tx.one("SELECT current_user AS who, auth.uid() AS uid")
    assert (row["who"], row["uid"]) == ("anon", None)

    user_id = uuid.uuid4()
    caller = Caller(role="authenticated", user_id=user_id, claims={"sub": str(user_id), "email": "a@b.c"})
    async with transaction(engine, caller) as tx:
        row = await tx.one(
            "SELECT current_user AS who, auth.uid() AS uid, auth.jwt() ->> 'email' AS email"
        )
    assert (row["who"], row["uid"], row["email"]) == ("authenticated", user_id, "a@b.c")

    async with transaction(engine, SERVICE) as tx:
        assert await tx.scalar("SELECT current_user") == "service_role"


async def test_role_and_claims_do_not_leak_to_the_next_transaction(engine):
    user_id = uuid.uuid4()
    async with transaction(engine, Caller(role="authenticated", user_id=user_id)) as tx:
        assert await tx.scalar("SELECT auth.uid()") == user_id
    # Same pooled connection (pool of one), outside any request transaction.
    async with engine.connect() as conn:
        who = (await conn.execute(text("SELECT current_user"))).scalar()
        claims = (await conn.execute(text("SELECT current_setting('request.jwt.claims', true)"))).scalar()
        await conn.rollback()
    assert who == "focushub_app"
    assert claims in (None, "")


async def test_login_role_without_switch_fails_closed(engine):
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError) as info:
            await conn.execute(text("SELECT count(*) FROM public.users"))
        await conn.rollback()
    assert "permission denied" in str(info.value)


async def test_after_commit_hooks_run_only_after_commit(engine):
    ran: list[str] = []
    async with transaction(engine, ANONYMOUS) as tx:
        tx.after_commit(lambda: ran.append("sync"))

        async def async_hook() -> None:
            ran.append("async")

        tx.after_commit(async_hook)
        assert ran == []
    assert ran == ["sync", "async"]

    dropped: list[str] = []
    with pytest.raises(RuntimeError):
        async with transaction(engine, ANONYMOUS) as tx:
            tx.after_commit(lambda: dropped.append("never"))
            raise RuntimeError("boom")
    assert dropped == []


async def test_unencodable_parameter_is_the_callers_422(engine):
    from focushub.core.errors import translate_db_error

    with pytest.raises(DBAPIError) as info:
        async with transaction(engine, ANONYMOUS) as tx:
            await tx.scalar("SELECT CAST(:x AS bigint)", x=2**63)
    err = translate_db_error(info.value)
    assert err is not None and err.status_code == 422


# The direct path sends BEGIN and the role statement in one message, with the caller's
# values written as SQL constants: they must arrive exactly, whatever they hold.
AWKWARD_CLAIMS = {
    "email": "o'brien\\\\'; DROP TABLE public.users; --@example.org",
    "name": "$$ $c$ E'\\x27' \" \n\t ünïcødé 漢字 \U0001f600",
    "app_metadata": {"role": "student", "note": "\\' OR '1'='1"},
}


async def test_direct_transaction_publishes_claims_exactly(one):
    user_id = uuid.uuid4()
    caller = Caller(role="authenticated", user_id=user_id,
                    claims={"sub": str(user_id), **AWKWARD_CLAIMS})
    async with direct_transaction(one, caller) as tx:
        row = await tx.one(
            "SELECT current_user AS who, auth.uid() AS uid,"
            " current_setting('request.jwt.claims') AS claims,"
            " current_setting('request.jwt.claim.sub') AS sub")
    assert (row["who"], row["uid"], row["sub"]) == ("authenticated", user_id, str(user_id))
    assert json.loads(row["claims"]) == {"sub": str(user_id), "role": "authenticated",
                                         **AWKWARD_CLAIMS}
    async with direct_transaction(one, ANONYMOUS) as tx:
        assert await tx.scalar("SELECT current_user") == "anon"


async def _pooled_connection_state(pool: DirectPool) -> tuple[str, str | None]:
    conn = await pool.acquire()
    try:
        assert not conn.is_in_transaction()
        who = await conn.fetchval("SELECT current_user")
        claims = await conn.fetchval("SELECT current_setting('request.jwt.claims', true)")
    finally:
        pool.release(conn)
    return who, claims


async def test_direct_transaction_of_an_ended_session_is_refused_and_closed(one):
    user_id = uuid.uuid4()  # no such user, so no live session either
    caller = Caller(role="authenticated", user_id=user_id,
                    claims={"sub": str(user_id), "session_id": str(uuid.uuid4())})
    with pytest.raises(Unauthorized) as info:
        async with direct_transaction(one, caller) as tx:
            await tx.scalar("SELECT 1")
    assert info.value.code == "session_ended"
    # The refused transaction switched nothing and left nothing open (a pool of one).
    who, claims = await _pooled_connection_state(one)
    assert who == "focushub_app" and claims in (None, "")


async def test_direct_transaction_rolls_back_what_failed(one):
    with pytest.raises(RuntimeError):
        async with direct_transaction(one, SERVICE) as tx:
            await tx.execute("CREATE TEMP TABLE direct_probe (x int)")
            raise RuntimeError("the service failed")
    with pytest.raises(AppError):  # an error of the database, translated
        async with direct_transaction(one, SERVICE) as tx:
            await tx.scalar("SELECT 1 / 0")
    who, claims = await _pooled_connection_state(one)
    assert who == "focushub_app" and claims in (None, "")
    async with direct_transaction(one, SERVICE) as tx:
        assert await tx.scalar("SELECT to_regclass('pg_temp.direct_probe')") is None


async def test_a_cancelled_direct_transaction_leaves_the_pool_usable(one):
    async def slow() -> None:
        async with direct_transaction(one, SERVICE) as tx:
            await tx.execute("CREATE TEMP TABLE direct_cancelled (x int)")
            await tx.scalar("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    async with direct_transaction(one, SERVICE) as tx:
        assert await tx.scalar("SELECT to_regclass('pg_temp.direct_cancelled')") is None
        assert await tx.scalar("SELECT current_user") == "service_role"


async def test_request_transactions_plan_without_jit(engine, one):
    """Both paths turn JIT compilation off for their transaction (a PostgreSQL built with
    LLVM compiled the question page, whose estimate is inflated by its JSON subqueries, at
    every request: 1.8 s instead of 18 ms), and only for it: the connection's own setting,
    here on whatever the server's default, is what it was after the transaction."""
    async with engine.connect() as conn:  # the pool's one connection
        await conn.execute(text("SET jit = on"))
        await conn.commit()
    direct = await one.acquire()
    await direct.execute("SET jit = on")
    one.release(direct)

    user_id = uuid.uuid4()
    for caller in (ANONYMOUS, Caller(role="authenticated", user_id=user_id), SERVICE):
        async with transaction(engine, caller) as tx:
            assert await tx.scalar("SELECT current_setting('jit')") == "off", caller
        async with direct_transaction(one, caller) as tx:
            assert await tx.scalar("SELECT current_setting('jit')") == "off", caller
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT current_setting('jit')"))).scalar() == "on"
        await conn.rollback()
    direct = await one.acquire()
    assert await direct.fetchval("SELECT current_setting('jit')") == "on"
    one.release(direct)
