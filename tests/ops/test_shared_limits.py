"""Rate limits hold across server processes: two ``focushub serve`` processes, attempts
alternating between them, count against one allowance (PostgreSQL, and Redis when it
answers). Before, each process kept its own count in memory, so N processes allowed N
times as much."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.realtime.test_fanout import REDIS_URL, redis_answers, serve_two

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["postgres", "redis"])
async def test_two_processes_share_one_login_allowance(test_db, backend):
    if backend == "redis" and not redis_answers():
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    # Four attempts per account, and (practically) no refill while the test runs.
    env = {"FOCUSHUB_RATE_LOGIN_ACCOUNT": "4/10000000"}
    email = f"target-{uuid.uuid4().hex[:8]}@example.org"
    with serve_two(test_db, REDIS_URL if backend == "redis" else None, env) as bases:
        statuses = []
        for n in range(8):
            async with httpx.AsyncClient(base_url=bases[n % 2], timeout=30) as http:
                r = await http.post("/api/v1/auth/login",
                                    json={"email": email, "password": "a wrong guess"})
                statuses.append(r.status_code)
                if r.status_code == 429:
                    assert int(r.headers["retry-after"]) >= 1
    assert statuses == [401] * 4 + [429] * 4
