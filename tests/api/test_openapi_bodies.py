"""Hot reads (bodies built by PostgreSQL, ``focushub.core.jsonsql``) keep what the API promises.

Their routes return bytes PostgreSQL wrote, which FastAPI no longer validates against the
route's ``response_model``. So for real responses of each one, with the cases that change
a body's shape (signed in or not, votes, an accepted answer, an AI answer with citations,
several pages, a user search):

- the body validates against the operation's 200 schema in the served OpenAPI document;
- the body is exactly what the response model writes: reading it into the model and
  writing it back gives the same JSON (timestamps, nulls, keys);
- the body equals what the object path returns for the same request (the service the web
  pages use, through Pydantic), cursors included.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import jsonschema_rs
import pytest
from pydantic import TypeAdapter

from focushub.comments.schemas import CommentRead
from focushub.core import observability
from focushub.core.db import ANONYMOUS
from focushub.core.pagination import Page
from focushub.feed import service as feed_service
from focushub.feed.schemas import FeedItemRead, FeedParams
from focushub.questions import service as questions_service
from focushub.questions.schemas import QuestionDetail
from focushub.search import service as search_service
from focushub.search.schemas import SearchHit, SearchParams
from focushub.votes.schemas import VoteRead
from tests.api.conftest import follow, make_user
from tests.api.factories_content import make_post
from tests.api.factories_qa import make_answer, make_question
from tests.api.factories_social import caller_of

CITATION = {"n": 1, "type": "answer", "id": str(uuid.uuid4()), "title": "Fractions",
            "url": "/questions/x", "quote": "Start with halves"}


def _validator(openapi: dict[str, Any], path: str, method: str = "get",
               status: str = "200") -> Any:
    schema = openapi["paths"][path][method]["responses"][status]["content"]["application/json"][
        "schema"]
    return jsonschema_rs.Draft202012Validator({**schema, "components": openapi["components"]})


@pytest.fixture
async def world(client, owner_conn) -> dict[str, Any]:
    alice, bob, carol = await make_user(client), await make_user(client), await make_user(client)
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    q = await make_question(client, bob, title="How do fractions work in algebra?",
                            tags=["algebra", "fractions"])
    answers = [await make_answer(client, who, q["id"], content=f"fractions answer {i}")
               for i, who in enumerate((alice, carol, alice))]
    r = await client.put(f"/api/v1/answers/{answers[1]['id']}/vote", json={"vote_type": "upvote"},
                         headers=alice["headers"])
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/answers/{answers[2]['id']}/accept", headers=bob["headers"])
    assert r.status_code == 200, r.text
    r = await client.put(f"/api/v1/questions/{q['id']}/vote", json={"vote_type": "downvote"},
                         headers=alice["headers"])
    assert r.status_code == 200, r.text
    # The citation names an answer that exists: one whose source the reader cannot see is
    # not shown (ai.queries.SOURCES_SEEN).
    CITATION["id"] = answers[0]["id"]
    await owner_conn.execute(
        "INSERT INTO ai_answers (question_id, answer_text, confidence_score, relevance_score,"
        " completeness_score, model_used, citations, completed_at)"
        " VALUES ($1, 'Halves first [1]', 0.85, 0.9, 0.95, 'm', $2::jsonb, now())",
        uuid.UUID(q["id"]), json.dumps([CITATION]))
    await owner_conn.execute(
        "INSERT INTO ai_answers (question_id, answer_text, confidence_score, status, created_at)"
        " VALUES ($1, 'Not sure', 0.1, 'abstained', date_trunc('second', now()))",
        uuid.UUID(q["id"]))
    for i in range(3):
        post = await make_post(client, carol if i % 2 else bob, title=f"Fractions note {i}",
                               content=f"Fractions, step {i}:\n\n  halves   then thirds")
        if i == 1:
            r = await client.put(f"/api/v1/posts/{post['id']}/vote",
                                 json={"vote_type": "upvote"}, headers=alice["headers"])
            assert r.status_code == 200, r.text
    return {"alice": alice, "question": q}


async def test_hot_read_bodies_keep_the_documented_shape(client, world):
    openapi = (await client.get("/openapi.json")).json()
    rt = client._transport.app.state.runtime
    alice = world["alice"]
    qid = world["question"]["id"]
    cases = 0

    async def check(path: str, template: str, params: dict[str, Any], signed_in: bool,
                    model: Any, object_path: Any) -> dict[str, Any]:
        nonlocal cases
        headers = alice["headers"] if signed_in else {}
        r = await client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        errors = [e.message for e in _validator(openapi, template).iter_errors(body)]
        assert errors == [], (path, params, errors)
        assert json.loads(model.dump_json(model.validate_json(r.content))) == body
        caller = caller_of(alice) if signed_in else ANONYMOUS
        token = observability.request_path.set(path)
        try:
            expected = await object_path(caller)
        finally:
            observability.request_path.reset(token)
        assert json.loads(model.dump_json(expected)) == body, (path, params)
        cases += 1
        return body

    page_of_items = TypeAdapter(Page[FeedItemRead])
    for signed_in in (False, True):
        detail = await check(
            f"/api/v1/questions/{qid}", "/api/v1/questions/{question_id}", {}, signed_in,
            TypeAdapter(QuestionDetail),
            lambda caller: questions_service.get_question(
                rt, caller, uuid.UUID(qid), client_address="203.0.113.7",
                view_key_secret=rt.jwt_secret))
        assert [a["is_accepted"] for a in detail["answers"]] == [True, False, False]
        assert [(a["status"], a["collapsed"]) for a in detail["ai_answers"]] == [
            ("completed", False), ("abstained", True)]
        assert detail["ai_answers"][0]["citations"] == [CITATION]
        for scope in ("latest", "trending") + (("following",) if signed_in else ()):
            params: dict[str, Any] = {"scope": scope, "limit": 2}
            pages = 0
            while True:
                body = await check(
                    "/api/v1/feed", "/api/v1/feed", params, signed_in, page_of_items,
                    lambda caller, p=dict(params): feed_service.get_feed(rt, caller, FeedParams(**p)))
                pages += 1
                if body["next_cursor"] is None:
                    break
                params["cursor"] = body["next_cursor"]
            assert pages >= 2
        for params in ({"q": "fractions", "limit": 2}, {"q": "fractions", "type": "question"},
                       {"q": alice["user"]["username"], "type": "user"}):
            body = await check(
                "/api/v1/search", "/api/v1/search", params, signed_in,
                TypeAdapter(Page[SearchHit]),
                lambda caller, p=params: search_service.search(rt, caller, SearchParams(**p)))
            assert body["items"]
    assert cases >= 14


async def test_hot_write_bodies_keep_the_documented_shape(client):
    """Hot writes return the model their service built, encoded once (``jsonsql.model_json``)
    rather than validated again by FastAPI: the status, the document and the model agree."""
    openapi = (await client.get("/openapi.json")).json()
    alice, bob = await make_user(client), await make_user(client)
    post = await make_post(client, bob, title="Ratios", content="Two to one")
    comments = "/api/v1/posts/{post_id}/comments"
    parent = None
    for content in ("Why two?", "Because of the halves"):
        r = await client.post(f"/api/v1/posts/{post['id']}/comments", headers=alice["headers"],
                              json={"content": content, "parent_id": parent})
        assert r.status_code == 201, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert [e.message for e in _validator(openapi, comments, "post", "201").iter_errors(body)] == []
        model = TypeAdapter(CommentRead)
        assert json.loads(model.dump_json(model.validate_json(r.content))) == body
        assert (body["content"], body["parent_id"], body["author"]["id"]) == (
            content, parent, alice["user"]["id"])
        parent = body["id"]
    vote = "/api/v1/comments/{votable_id}/vote"
    for method, payload, expected in (("put", {"vote_type": "upvote"}, (1, "upvote")),
                                      ("delete", None, (0, None))):
        r = await client.request(method.upper(), f"/api/v1/comments/{parent}/vote", json=payload,
                                 headers=bob["headers"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert [e.message for e in _validator(openapi, vote, method).iter_errors(body)] == []
        assert VoteRead.model_validate_json(r.content).model_dump(mode="json") == body
        assert (body["votable_type"], body["votable_id"], body["count"], body["my_vote"]) == (
            "comment", parent, *expected)


async def test_a_hot_path_whose_connection_died_answers_503_then_recovers(client, owner_conn):
    """Pooled connections whose backends went away (a restart, a pooler dropping them) make
    the request that meets one a 503 ``database_unavailable`` with Retry-After, on the hot
    paths' pool as on the engine's; each pool then drops every connection it held, so the
    next requests work: at most one 503 per pool, not one per connection."""
    alice = await make_user(client)
    for _ in range(3):  # some connections in both pools
        assert (await client.get("/api/v1/feed", headers=alice["headers"])).status_code == 200
        assert (await client.get("/api/v1/users/me", headers=alice["headers"])).status_code == 200
    killed = await owner_conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND usename <> current_user")
    assert killed >= 2
    for path in ("/api/v1/feed", "/api/v1/users/me"):  # the hot paths' pool, the engine's
        statuses = []
        for _ in range(5):
            r = await client.get(path, headers=alice["headers"])
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "database_unavailable"
            assert r.headers["retry-after"] == "5"
        assert statuses[-1] == 200 and statuses.count(503) <= 1, (path, statuses)
        if path == "/api/v1/users/me":  # the hot path's discovery had the engine start over
            assert statuses == [200]
    for _ in range(3):
        assert (await client.get("/api/v1/feed", headers=alice["headers"])).status_code == 200
        assert (await client.get("/api/v1/users/me", headers=alice["headers"])).status_code == 200