"""Reports have a rate per account like every other write: one account reporting all it can
see filled the moderation queue, and a few of them hid whatever reached the threshold."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from focushub.app import create_app
from focushub.core.ratelimit import Rate
from tests.api.conftest import admin_of, make_user
from tests.api.factories_content import make_post

NO_REFILL = 10**7


@pytest.fixture
async def limited(settings, engine) -> AsyncIterator[httpx.AsyncClient]:
    rates = {name: Rate(getattr(settings, name).limit, NO_REFILL)
             for name in type(settings).model_fields if name.startswith("write_rate_")}
    app = create_app(settings.model_copy(update={"write_limits_enabled": True, **rates}),
                     engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.51", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _report_all(client, who, posts) -> list[int]:
    statuses = []
    for post in posts:
        r = await client.post("/api/v1/reports", headers=who["headers"],
                              json={"target_type": "post", "target_id": post["id"],
                                    "reason": "spam"})
        statuses.append(r.status_code)
    return statuses


async def test_an_account_reports_at_its_standing_s_rate(client, limited, settings, owner_conn):
    author = await make_user(client)
    new_limit = settings.write_rate_new_report.limit
    posts = [await make_post(client, author, title=f"Notes {n}") for n in range(new_limit + 2)]
    reporter = await make_user(limited)
    statuses = await _report_all(limited, reporter, posts)
    assert statuses == [201] * new_limit + [429] * 2
    r = await limited.post("/api/v1/reports", headers=reporter["headers"],
                           json={"target_type": "post", "target_id": posts[-1]["id"],
                                 "reason": "spam"})
    error = r.json()["error"]
    assert error["code"] == "write_rate_limited" and "reports" in error["message"]
    assert int(r.headers["retry-after"]) >= 1
    assert await owner_conn.fetchval("SELECT count(*) FROM reports") == new_limit
    # Administrators are not held to it.
    admin = await admin_of(limited, owner_conn)
    assert await _report_all(limited, admin, posts) == [201] * len(posts)
