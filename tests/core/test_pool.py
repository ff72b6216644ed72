"""The direct path's pool: bounded, first come first served, nothing lost to a timeout or a
cancellation, broken connections replaced."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from focushub.core.db import SERVICE, direct_transaction
from focushub.core.errors import AppError
from focushub.core.pool import DirectPool


@pytest.fixture
async def pool(test_db):
    direct = DirectPool(test_db.app_url, size=2, timeout=5)
    yield direct
    await direct.close()


async def _backend(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT pg_backend_pid()")


async def test_connections_are_reused_last_in_first_out(pool):
    a = await pool.acquire()
    b = await pool.acquire()
    assert pool.in_use == 2
    pids = {await _backend(a), await _backend(b)}
    assert len(pids) == 2
    pool.release(a)
    pool.release(b)
    assert pool.in_use == 0
    again = await pool.acquire()
    assert again is b  # the last one given back, its cache warm
    pool.release(again)


async def test_a_full_pool_serves_its_waiters_in_order(pool):
    a = await pool.acquire()
    b = await pool.acquire()
    served: list[str] = []

    async def wait(name: str) -> None:
        conn = await pool.acquire()
        served.append(name)
        await asyncio.sleep(0.01)
        pool.release(conn)

    first = asyncio.create_task(wait("first"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(wait("second"))
    await asyncio.sleep(0.01)
    assert served == []  # nobody gets a third connection
    pool.release(a)
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert served == ["first", "second"]
    pool.release(b)
    assert pool.in_use == 0 and pool._open == 2


async def test_waiting_too_long_is_the_database_unavailable(one):
    one.timeout = 0.2
    held = await one.acquire()
    with pytest.raises(AppError) as info:
        await one.acquire()
    assert info.value.status_code == 503
    one.release(held)
    conn = await one.acquire()  # the pool still works, and still holds one connection
    assert conn is held
    one.release(conn)


async def test_a_cancelled_waiter_loses_no_connection(one):
    held = await one.acquire()
    waiter = asyncio.create_task(one.acquire())
    await asyncio.sleep(0.01)
    # The connection is handed over and the waiter cancelled in the same instant.
    one.release(held)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert one.in_use == 0
    conn = await asyncio.wait_for(one.acquire(), 1)
    assert conn is held
    one.release(conn)


async def test_a_dropped_connection_frees_its_place_for_a_waiter(one):
    held = await one.acquire()
    old_pid = await _backend(held)
    waiter = asyncio.create_task(one.acquire())
    await asyncio.sleep(0.01)
    one.discard(held)
    conn = await asyncio.wait_for(waiter, 5)
    assert held.is_closed() and await _backend(conn) != old_pid
    one.release(conn)


async def _terminate_backend(test_db, pid: int) -> None:
    owner = await asyncpg.connect(test_db.owner_url)
    try:
        assert await owner.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await owner.close()


async def test_an_idle_connection_whose_server_went_away_is_replaced(test_db, pool):
    conn = await pool.acquire()
    pid = await _backend(conn)
    pool.release(conn)
    await _terminate_backend(test_db, pid)
    for _ in range(100):  # until asyncpg has read the server's goodbye
        if conn.is_closed():
            break
        await asyncio.sleep(0.02)
    assert conn.is_closed()
    async with direct_transaction(pool, SERVICE) as tx:
        assert await tx.scalar("SELECT pg_backend_pid()") != pid
    assert pool._open == 1


async def test_a_connection_lost_in_a_transaction_is_a_503_and_dropped(test_db, pool):
    with pytest.raises(AppError) as info:
        async with direct_transaction(pool, SERVICE) as tx:
            pid = await tx.scalar("SELECT pg_backend_pid()")
            await _terminate_backend(test_db, pid)
            await tx.scalar("SELECT pg_sleep(0.2)")
    assert info.value.status_code == 503
    assert pool.in_use == 0 and pool._open == 0
    async with direct_transaction(pool, SERVICE) as tx:
        assert await tx.scalar("SELECT pg_backend_pid()") != pid


async def test_requests_cancelled_at_any_step_leave_only_clean_connections(one):
    """Cancelled while connecting, while BEGIN is on its way, mid-statement or while
    committing: the connection goes back idle and clean, or not at all."""

    async def request() -> None:
        async with direct_transaction(one, SERVICE) as tx:
            await tx.scalar("SELECT 1")
            await tx.execute("SELECT set_config('focushub.probe', 'dirty', true)")

    for steps in range(40):
        task = asyncio.create_task(request())
        for _ in range(steps % 10):
            await asyncio.sleep(0)
        if steps >= 20:
            await asyncio.sleep(0.0005 * (steps - 20))
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        async with direct_transaction(one, SERVICE) as tx:
            # A connection still busy with the cancelled statement would refuse this.
            row = await tx.one("SELECT current_user AS who,"
                               " current_setting('focushub.probe', true) AS probe")
        assert (row["who"], row["probe"] or "") == ("service_role", "")
        assert one.in_use == 0


async def test_a_failed_connect_frees_its_place():
    pool = DirectPool("postgresql://nobody@127.0.0.1:1/none", size=1, timeout=1)
    try:
        for _ in range(2):  # the failed attempt did not keep the only place
            with pytest.raises(OSError):
                await pool.acquire()
        assert pool._open == 0
    finally:
        await pool.close()


async def test_closing_the_pool_closes_its_connections(pool):
    lent = await pool.acquire()
    idle = await pool.acquire()
    pool.release(idle)
    await pool.close()
    assert idle.is_closed()  # idle: closed at once
    assert not lent.is_closed()
    pool.release(lent)  # lent out: closed when given back
    assert lent.is_closed() and pool._open == 0
    # Used again (as a disposed engine is), it opens new connections.
    conn = await pool.acquire()
    assert conn not in (lent, idle) and await _backend(conn)
    pool.release(conn)
