"""Factories for posts and comments, through the real API (as another client would).

``session`` is what ``tests.api.conftest.make_user`` returns; the author of the
new post or comment is that user. Overrides replace fields of the request body.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

_counter = itertools.count(1)


async def make_post(client: httpx.AsyncClient, session: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Create a post as ``session``'s user; returns the ``PostRead`` body."""
    n = next(_counter)
    body: dict[str, Any] = {"title": f"Post {n}", "content": f"What I learned today, part {n}."}
    body.update(overrides)
    response = await client.post("/api/v1/posts", json=body, headers=session["headers"])
    assert response.status_code == 201, response.text
    return response.json()


async def make_comment(
    client: httpx.AsyncClient, session: dict[str, Any], post_id: str, **overrides: Any
) -> dict[str, Any]:
    """Comment on ``post_id`` (a reply when ``parent_id`` is given); returns the ``CommentRead`` body."""
    n = next(_counter)
    body: dict[str, Any] = {"content": f"Comment {n}"}
    body.update(overrides)
    response = await client.post(
        f"/api/v1/posts/{post_id}/comments", json=body, headers=session["headers"]
    )
    assert response.status_code == 201, response.text
    return response.json()
