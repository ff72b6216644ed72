"""The request transaction: role switch, claims, fail-closed login role, after-commit hooks."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from focushub.core.db import ANONYMOUS, SERVICE, Caller, create_engine, transaction


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
