"""Shared rate limits (GCRA) in PostgreSQL and in Redis: bursts, spacing, exact counts
under concurrency from two independent limiters (as two server processes have)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from focushub.core.db import SERVICE, create_engine, direct_transaction, hot_pool
from focushub.core.errors import TooManyRequests
from focushub.core.ratelimit import PostgresLimiter, Rate, RedisLimiter, hit
from focushub.core.settings import Settings
from tests.realtime.test_fanout import REDIS_URL, redis_answers


@pytest.fixture(params=["postgres", "redis"])
async def limiters(request, test_db):
    """Two limiters on separate connections (pools or clients), like two processes."""
    if request.param == "redis":
        if not redis_answers():
            pytest.skip("Redis does not answer on 127.0.0.1:6379")
        pair = [RedisLimiter(REDIS_URL), RedisLimiter(REDIS_URL)]
        yield pair
        for limiter in pair:
            await limiter.close()
        return
    engines = [create_engine(test_db.app_url, pool_size=5), create_engine(test_db.app_url, pool_size=5)]
    yield [PostgresLimiter(hot_pool(e, size=5)) for e in engines]
    for engine in engines:
        await engine.dispose()


def test_rates_parse_and_refuse_nonsense():
    assert Rate.parse("10/60") == Rate(10, 60.0)
    assert str(Rate.parse("5/0.5")) == "5/0.5"
    for bad in ("10", "0/60", "10/0", "ten/60", "10/-1"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


def test_rates_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FOCUSHUB_RATE_LOGIN", "5/30")
    assert Settings(env="test").rate_login == Rate(5, 30.0)
    monkeypatch.setenv("FOCUSHUB_RATE_LOGIN", "five")
    with pytest.raises(ValueError):
        Settings(env="test")


async def test_a_burst_then_spacing(limiters):
    one, _ = limiters
    key = f"test:{uuid.uuid4()}"
    rate = Rate(3, 60)
    assert [await one.wait_ms(key, rate) for _ in range(3)] == [0, 0, 0]
    wait = await one.wait_ms(key, rate)
    # The fourth fits once one emission interval (20 s) has passed since the burst began.
    assert 18_000 < wait <= 20_000
    with pytest.raises(TooManyRequests) as refused:
        await hit(one, key, rate)
    assert 18 <= refused.value.details["retry_after_seconds"] <= 20
    # Other keys are not affected.
    assert await one.wait_ms(f"{key}:other", rate) == 0


async def test_a_short_window_admits_again_after_it(limiters):
    one, _ = limiters
    key = f"test:{uuid.uuid4()}"
    rate = Rate(2, 0.3)
    assert [await one.wait_ms(key, rate) for _ in range(3)][:2] == [0, 0]
    await asyncio.sleep(0.4)
    assert await one.wait_ms(key, rate) == 0


async def test_two_limiters_share_one_count_exactly(limiters):
    key = f"test:{uuid.uuid4()}"
    rate = Rate(10, 3600)
    results = await asyncio.gather(*(limiters[n % 2].wait_ms(key, rate) for n in range(40)))
    assert sum(1 for wait in results if wait == 0) == 10


async def test_many_hits_in_one_exchange_count_each_in_order(limiters):
    one, _ = limiters
    first, second = f"test:{uuid.uuid4()}", f"test:{uuid.uuid4()}"
    rate = Rate(3, 60)
    # A key named several times is counted each time, in the order given: its first three
    # are admitted, whatever the other keys around them.
    waits = await one.wait_many([(second, rate), (first, rate), (second, rate),
                                 (second, rate), (first, rate), (second, rate),
                                 (second, rate)])
    assert [w == 0 for w in waits] == [True, True, True, True, True, False, False]
    assert 18_000 < waits[5] <= 20_000 and waits[6] <= waits[5]  # a refusal is not counted
    assert await one.wait_many([]) == []
    assert await one.wait_ms(first, rate) == 0 and await one.wait_ms(first, rate) > 0


async def test_batches_from_two_limiters_share_one_count_exactly(limiters):
    keys = [f"test:{uuid.uuid4()}" for _ in range(3)]
    rate = Rate(10, 3600)
    # Twenty batches naming the same keys in different orders, from two "processes" at
    # once: every key admits exactly ten, and no batch waits on another for ever.
    batches = [[(keys[(n + i) % 3], rate) for i in range(6)] for n in range(20)]
    results = await asyncio.wait_for(asyncio.gather(
        *(limiters[n % 2].wait_many(batch) for n, batch in enumerate(batches))), 60)
    admitted = {key: 0 for key in keys}
    for batch, waits in zip(batches, results, strict=True):
        for (key, _), wait in zip(batch, waits, strict=True):
            admitted[key] += wait == 0
    assert admitted == {key: 10 for key in keys}


async def test_hits_counted_within_a_transaction_go_with_it(test_db):
    """``within``: the hits are part of the caller's transaction (the write limits' check
    counts them beside the standings it reads), so a rollback takes them back."""
    engine = create_engine(test_db.app_url, pool_size=2)
    pool = hot_pool(engine, size=2)
    limiter = PostgresLimiter(pool)
    key, rate = f"test:{uuid.uuid4()}", Rate(1, 3600)

    class Undone(Exception):
        pass

    try:
        with pytest.raises(Undone):
            async with direct_transaction(pool, SERVICE) as tx:
                assert await limiter.wait_many([(key, rate)], within=tx) == [0]
                raise Undone
        assert await limiter.wait_many([(key, rate)]) == [0]  # the undone hit never counted
        assert (await limiter.wait_many([(key, rate)]))[0] > 0
    finally:
        await pool.close()
        await engine.dispose()
