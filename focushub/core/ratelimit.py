"""Rate limits that hold across every server process: in Redis when it is configured,
otherwise in PostgreSQL (no extra service).

Both stores run the same algorithm, GCRA (the generic cell rate algorithm): a key
keeps one timestamp, its "theoretical arrival time". A rate of N per T seconds
spaces requests T/N apart and lets a burst of N through; a request is refused
when admitting it would push that time more than T past now, and the refusal
says exactly when the next one will be admitted (``Retry-After``). Unlike a fixed
window it never lets 2N through around a window's edge, and unlike a log of hits
it keeps one value per key whatever the rate. Each check is one atomic step on
the store (a Lua script; one ``INSERT … ON CONFLICT`` under the key's row lock),
timed by the store's clock, so processes on machines with different clocks agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import BeforeValidator, PlainSerializer
from pydantic_settings import NoDecode

from focushub.core.db import SERVICE, DirectTx, direct_transaction
from focushub.core.errors import TooManyRequests
from focushub.core.pool import DirectPool


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``seconds``, in a burst or spread out."""

    limit: int
    seconds: float

    @classmethod
    def parse(cls, value: object) -> Rate:
        """``"10/60"`` (ten per minute); a Rate passes through."""
        if isinstance(value, Rate):
            return value
        try:
            count, _, seconds = str(value).partition("/")
            rate = cls(int(count), float(seconds))
        except ValueError:
            raise ValueError("a rate is written COUNT/SECONDS, e.g. 10/60") from None
        if rate.limit < 1 or rate.seconds <= 0:
            raise ValueError("a rate needs a count of at least 1 and a positive number of seconds")
        return rate

    def __str__(self) -> str:
        return f"{self.limit}/{self.seconds:g}"


# A settings field type: "COUNT/SECONDS" in the environment (NoDecode: not JSON).
RateSetting = Annotated[Rate, NoDecode, BeforeValidator(Rate.parse), PlainSerializer(str)]


class Limiter(Protocol):
    # Whether the keys live in the application's database, so that hits can be counted in
    # a transaction the caller already holds (``wait_many(..., within=tx)``).
    in_database: bool

    async def wait_ms(self, key: str, rate: Rate) -> int:
        """Admit one request for ``key`` (0), or say how many ms until one would be."""

    async def wait_many(self, hits: list[tuple[str, Rate]], *,
                        within: DirectTx | None = None) -> list[int]:
        """:meth:`wait_ms` for each of ``hits`` in one exchange with the store, in order
        (a key named twice is counted twice); the waits in the same order. ``within``:
        a transaction as ``service_role`` to count them in, for a limiter
        :attr:`in_database` (no transaction of its own then)."""

    async def close(self) -> None: ...


async def hit(limiter: Limiter, key: str, rate: Rate) -> None:
    """Count one request for ``key``; 429 with ``Retry-After`` when over ``rate``."""
    wait = await limiter.wait_ms(key, rate)
    if wait > 0:
        raise TooManyRequests("Too many attempts; try again later",
                              details={"retry_after_seconds": max(1, math.ceil(wait / 1000))})


class PostgresLimiter:
    """Keys in the UNLOGGED table ``rate_limits`` (0023), through ``rate_limit_hit()``,
    which only ``service_role`` may call. Expired keys are pruned by a job.

    Each check is a transaction of the direct path (``core.db.direct_transaction`` on the
    hot paths' pool): every write checks its sender's rate first, so this is on the hot
    path of each write, chat messages included."""

    _HIT = "SELECT public.rate_limit_hit(:key, :limit, :window_ms)"
    # In the keys' order (each function call locks its key's row until the commit: two
    # processes hitting the same keys lock them in the same order, so never each other),
    # and a key's hits in the order given.
    _HITS = """
    SELECT s.n, public.rate_limit_hit(s.key, s.lim, s.win) AS wait
    FROM (SELECT t.key, t.lim, t.win, t.n
          FROM unnest(CAST(:keys AS text[]), CAST(:limits AS integer[]),
                      CAST(:windows AS bigint[])) WITH ORDINALITY AS t(key, lim, win, n)
          ORDER BY t.key, t.n) s
    """

    in_database = True

    def __init__(self, pool: DirectPool) -> None:
        self.pool = pool

    async def wait_ms(self, key: str, rate: Rate) -> int:
        # The role is switched by the transaction's first statement, before this one runs:
        # EXECUTE on the function is checked against service_role.
        async with direct_transaction(self.pool, SERVICE) as tx:
            wait = await tx.scalar(self._HIT, key=key, limit=rate.limit,
                                   window_ms=round(rate.seconds * 1000))
        return int(wait)

    async def wait_many(self, hits: list[tuple[str, Rate]], *,
                        within: DirectTx | None = None) -> list[int]:
        if not hits:
            return []
        if within is None:
            async with direct_transaction(self.pool, SERVICE) as tx:
                return await self.wait_many(hits, within=tx)
        rows = await within.all(self._HITS, keys=[key for key, _ in hits],
                                limits=[rate.limit for _, rate in hits],
                                windows=[round(rate.seconds * 1000) for _, rate in hits])
        waits = [0] * len(hits)
        for row in rows:
            waits[row["n"] - 1] = int(row["wait"])
        return waits

    async def close(self) -> None:
        return None


# KEYS[1]: the key. ARGV: emission interval and window, in microseconds.
_GCRA_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local emission = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
if new_tat - window > now then
  return math.ceil((new_tat - window - now) / 1000)
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
"""


class RedisLimiter:
    """Keys ``focushub:rl:<key>`` that expire on their own once idle."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.client: Any = redis.Redis.from_url(url)
        self.script = self.client.register_script(_GCRA_LUA)

    async def wait_ms(self, key: str, rate: Rate) -> int:
        return int(await self.script(keys=[f"focushub:rl:{key}"], args=_gcra_args(rate)))

    in_database = False

    async def wait_many(self, hits: list[tuple[str, Rate]], *,
                        within: DirectTx | None = None) -> list[int]:
        if not hits:
            return []
        # One pipeline: Redis runs the scripts one after the other, in this order.
        async with self.client.pipeline(transaction=False) as pipe:
            for key, rate in hits:
                await self.script(keys=[f"focushub:rl:{key}"], args=_gcra_args(rate),
                                  client=pipe)
            return [int(wait) for wait in await pipe.execute()]

    async def close(self) -> None:
        await self.client.aclose()


def _gcra_args(rate: Rate) -> list[int]:
    """The script's ARGV for ``rate``: emission interval and window, in microseconds."""
    window_us = round(rate.seconds * 1_000_000)
    return [window_us // rate.limit, window_us]


def open_limiter(*, redis_url: str | None, pool: DirectPool) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else PostgresLimiter(pool)
