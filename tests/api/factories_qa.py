"""Factories for questions and answers, through the real API.

``session`` is what :func:`tests.api.conftest.make_user` returns. Each factory
asserts the 201 and returns the response body.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

_numbers = itertools.count(1)


async def make_question(
    client: httpx.AsyncClient, session: dict[str, Any], **overrides: Any
) -> dict[str, Any]:
    n = next(_numbers)
    body: dict[str, Any] = {
        "title": f"How do I learn topic {n}?",
        "content": f"I am stuck on topic {n}. Where should I start?",
        "category": "general",
        "tags": ["learning"],
    }
    body.update(overrides)
    r = await client.post("/api/v1/questions", json=body, headers=session["headers"])
    assert r.status_code == 201, r.text
    return r.json()


async def make_answer(
    client: httpx.AsyncClient, session: dict[str, Any], question_id: str, **overrides: Any
) -> dict[str, Any]:
    n = next(_numbers)
    body: dict[str, Any] = {"content": f"Start with the basics, then practise (answer {n})."}
    body.update(overrides)
    r = await client.post(
        f"/api/v1/questions/{question_id}/answers", json=body, headers=session["headers"]
    )
    assert r.status_code == 201, r.text
    return r.json()
