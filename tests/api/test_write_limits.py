"""Write limits by account standing (focushub/safety/limits.py), as a spammer meets them:
a new account is held to the new rates, an established one to looser ones, an admin to none;
the same for the people one text may mention and for requests for AI answers (made by a real
Chat Completions server on loopback). Rates are the defaults' counts with a window so long
that nothing refills during the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from focushub.app import create_app
from focushub.core.ratelimit import Rate
from focushub.safety.limits import MENTION_PATTERN, _per, _wait
from tests.api.conftest import admin_of, make_user
from tests.api.factories_content import make_comment, make_post
from tests.api.factories_qa import make_question
from tests.api.files_support import _env
from tests.api.llm_server import llm, llm_server  # noqa: F401 (fixtures)

NO_REFILL = 10**7


def _no_refill(settings) -> dict[str, Rate]:
    return {name: Rate(getattr(settings, name).limit, NO_REFILL)
            for name in type(settings).model_fields if name.startswith("write_rate_")}


@pytest.fixture
async def limited(settings, engine) -> AsyncIterator[httpx.AsyncClient]:
    rates = _no_refill(settings)
    app = create_app(settings.model_copy(update={"write_limits_enabled": True, **rates}),
                     engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.50", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def make_established(client, owner_conn) -> dict:
    user = await make_user(client)
    await owner_conn.execute(
        "UPDATE users SET created_at = now() - interval '30 days', is_verified = true"
        " WHERE id = $1::uuid", user["user"]["id"])
    return user


async def test_a_new_account_posts_less_than_an_established_one(limited, owner_conn):
    spammer = await make_user(limited)
    statuses = []
    for n in range(7):
        r = await limited.post("/api/v1/posts", headers=spammer["headers"],
                               json={"title": f"Buy now {n}", "content": "cheap essays"})
        statuses.append(r.status_code)
    assert statuses == [201] * 5 + [429] * 2
    error = r.json()["error"]
    assert error["code"] == "write_rate_limited" and error["details"]["standing"] == "new"
    assert error["message"].startswith("New accounts may send 5 posts per ")
    assert "; try again in " in error["message"]
    assert int(r.headers["retry-after"]) >= 1
    assert await owner_conn.fetchval("SELECT count(*) FROM posts") == 5  # nothing half-written

    regular = await make_established(limited, owner_conn)
    for n in range(7):
        await make_post(limited, regular, title=f"Notes {n}")
    admin = await admin_of(limited, owner_conn)
    for n in range(40):
        await make_post(limited, admin, title=f"Announcement {n}")


async def test_a_stranger_cannot_be_flooded_with_messages_or_comments(limited, owner_conn):
    spammer, victim = await make_user(limited), await make_user(limited)
    r = await limited.post("/api/v1/chat/rooms", headers=spammer["headers"],
                           json={"user_id": victim["user"]["id"]})
    room = r.json()["id"]
    statuses = [
        (await limited.post(f"/api/v1/chat/rooms/{room}/messages", headers=spammer["headers"],
                            json={"content": f"hey {n}"})).status_code
        for n in range(25)
    ]
    assert statuses == [201] * 20 + [429] * 5
    post = await make_post(limited, await make_established(limited, owner_conn))
    statuses = [
        (await limited.post(f"/api/v1/posts/{post['id']}/comments", headers=spammer["headers"],
                            json={"content": f"visit my site {n}"})).status_code
        for n in range(22)
    ]
    assert statuses == [201] * 20 + [429] * 2
    # Another account's allowance is its own.
    other = await make_user(limited)
    r = await limited.post(f"/api/v1/posts/{post['id']}/comments", headers=other["headers"],
                           json={"content": "Great notes"})
    assert r.status_code == 201


async def test_writes_arriving_together_are_checked_together_and_counted_exactly(
        limited, owner_conn):
    """The checks of messages sent at the same moment share their batch's transaction (a
    group commit); every account still gets exactly its own allowance."""
    users = [await make_user(limited) for _ in range(3)]
    admin = await admin_of(limited, owner_conn)
    victim = await make_user(limited)
    rooms = {}
    for user in [*users, admin]:
        r = await limited.post("/api/v1/chat/rooms", headers=user["headers"],
                               json={"user_id": victim["user"]["id"]})
        assert r.status_code == 201, r.text
        rooms[user["user"]["id"]] = r.json()["id"]

    async def send(user: dict, n: int) -> int:
        r = await limited.post(f"/api/v1/chat/rooms/{rooms[user['user']['id']]}/messages",
                               headers=user["headers"], json={"content": f"at once {n}"})
        return r.status_code

    senders = [user for n in range(25) for user in [*users, admin]]
    statuses = await asyncio.gather(*(send(user, n) for n, user in enumerate(senders)))
    by_user: dict[str, list[int]] = {}
    for user, status in zip(senders, statuses, strict=True):
        by_user.setdefault(user["user"]["id"], []).append(status)
    for user in users:  # new accounts: 20 messages, then refused
        assert sorted(by_user[user["user"]["id"]]) == [201] * 20 + [429] * 5
    assert by_user[admin["user"]["id"]] == [201] * 25
    messages = limited._transport.app.state.runtime.group_commit("chat.messages", None)
    assert messages.batches < len(senders), "the messages and their checks were not batched"
    assert await owner_conn.fetchval("SELECT count(*) FROM chat_messages WHERE content LIKE"
                                     " 'at once %'") == 3 * 20 + 25

    # Other writes check in a group commit of their own (write.limits), before their
    # transaction: 25 comments at once from a new account, 20 admitted.
    post = await make_post(limited, await make_established(limited, owner_conn))
    commenter = await make_user(limited)
    statuses = await asyncio.gather(*(
        limited.post(f"/api/v1/posts/{post['id']}/comments", headers=commenter["headers"],
                     json={"content": f"at once {n}"}) for n in range(25)))
    assert sorted(r.status_code for r in statuses) == [201] * 20 + [429] * 5
    checks = limited._transport.app.state.runtime.group_commit("write.limits", None)
    assert checks.batches < 25 + len(rooms) + 1, "the checks were not batched"


def test_the_refusal_reads_as_a_sentence():
    assert [_per(Rate(5, 3600)), _per(Rate(20, 60)), _per(Rate(3, 6 * 3600)),
            _per(Rate(2, 30))] == [" an hour", " a minute", " per 6 hours", " per 30 seconds"]
    assert (_wait(4_200), _wait(600_000)) == ("5 seconds", "10 minutes")


async def test_following_and_rooms_are_limited_too(limited, owner_conn):
    spammer = await make_user(limited)
    strangers = [await make_user(limited) for _ in range(21)]
    statuses = [(await limited.put(f"/api/v1/users/{s['user']['id']}/follow",
                                   headers=spammer["headers"])).status_code for s in strangers]
    assert statuses == [200] * 20 + [429]
    statuses = [(await limited.post("/api/v1/chat/rooms", headers=spammer["headers"],
                                    json={"name": f"Free stuff {n}"})).status_code
                for n in range(4)]
    assert statuses == [201] * 3 + [429]


async def test_going_back_to_a_direct_chat_one_has_is_not_a_new_chat(limited, owner_conn):
    newcomer = await make_user(limited)
    friends = [await make_user(limited) for _ in range(4)]
    rooms = []
    for friend in friends[:3]:
        r = await limited.post("/api/v1/chat/rooms", headers=newcomer["headers"],
                               json={"user_id": friend["user"]["id"]})
        assert r.status_code == 201, r.text
        rooms.append(r.json()["id"])
    r = await limited.post("/api/v1/chat/rooms", headers=newcomer["headers"],
                           json={"user_id": friends[3]["user"]["id"]})
    assert r.status_code == 429  # a fourth new chat within the hour
    # Messaging someone one already has a chat with opens that chat, whatever the limit.
    r = await limited.post("/api/v1/chat/rooms", headers=newcomer["headers"],
                           json={"user_id": friends[0]["user"]["id"]})
    assert r.status_code == 200 and r.json()["id"] == rooms[0]
    # The friend opening it from their side finds the same chat.
    r = await limited.post("/api/v1/chat/rooms", headers=friends[1]["headers"],
                           json={"user_id": newcomer["user"]["id"]})
    assert r.status_code == 200 and r.json()["id"] == rooms[1]


# --- mentions ------------------------------------------------------------------------------------


def _mentioning(people: list[dict]) -> str:
    return "Thoughts, " + ", ".join(f"@{p['user']['username']}" for p in people) + "?"


async def _mentions_of(owner_conn) -> int:
    return await owner_conn.fetchval("SELECT count(*) FROM notifications WHERE type = 'mention'")


async def test_a_new_account_mentions_few_people_an_established_one_more_an_admin_any(
        limited, owner_conn):
    people = [await make_user(limited) for _ in range(12)]
    newcomer = await make_user(limited)

    # Three people, plus names of nobody, the author and an email address: accepted.
    text = _mentioning(people[:3]) + (f" @nobody_at_all @decorator @{newcomer['user']['username']}"
                                      " write to me@example.org")
    await make_post(limited, newcomer, content=text)
    assert await _mentions_of(owner_conn) == 3
    # A fourth person: refused whole, saying the limit; nothing written, nobody notified.
    r = await limited.post("/api/v1/posts", headers=newcomer["headers"],
                           json={"title": "Hey all", "content": _mentioning(people[:4])})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "too_many_mentions"
    assert error["message"].startswith(
        "New accounts may mention at most 3 people in a post; this one mentions 4.")
    assert error["details"] == {"limit": 3, "mentioned": 4, "kind": "post", "standing": "new"}
    assert await owner_conn.fetchval("SELECT count(*) FROM posts WHERE author_id = $1::uuid",
                                     newcomer["user"]["id"]) == 1
    assert await _mentions_of(owner_conn) == 3
    # The refusal cost nothing of the hourly rate: four more posts (five in all) go through.
    for n in range(4):
        await make_post(limited, newcomer, title=f"Note {n}")

    # Comments, questions and answers count too, and so do edits.
    post = await make_post(limited, people[0])
    r = await limited.post(f"/api/v1/posts/{post['id']}/comments", headers=newcomer["headers"],
                           json={"content": _mentioning(people[1:5])})
    assert r.status_code == 422 and r.json()["error"]["details"]["kind"] == "comment"
    comment = await make_comment(limited, newcomer, post["id"], content="Nice notes")
    r = await limited.patch(f"/api/v1/comments/{comment['id']}", headers=newcomer["headers"],
                            json={"content": _mentioning(people[1:5])})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_mentions"
    assert await owner_conn.fetchval("SELECT content FROM comments WHERE id = $1::uuid",
                                     comment["id"]) == "Nice notes"
    r = await limited.post("/api/v1/questions", headers=newcomer["headers"], json={
        "title": "Who knows recursion?", "content": _mentioning(people[1:5]),
        "category": "general"})
    assert r.status_code == 422 and "in a question;" in r.json()["error"]["message"]
    question = await make_question(limited, people[0])
    r = await limited.post(f"/api/v1/questions/{question['id']}/answers",
                           headers=newcomer["headers"], json={"content": _mentioning(people[1:5])})
    assert r.status_code == 422 and "in an answer;" in r.json()["error"]["message"]
    assert await _mentions_of(owner_conn) == 3

    # Someone else's text is not theirs to edit: 403 before any count.
    r = await limited.patch(f"/api/v1/posts/{post['id']}", headers=newcomer["headers"],
                            json={"content": _mentioning(people[1:5])})
    assert r.status_code == 403

    regular = await make_established(limited, owner_conn)
    await make_post(limited, regular, content=_mentioning(people[:10]))
    assert await _mentions_of(owner_conn) == 13
    r = await limited.post("/api/v1/posts", headers=regular["headers"],
                           json={"title": "Everyone", "content": _mentioning(people[:11])})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["message"] == ("Accounts may mention at most 10 people in a post; this one"
                                " mentions 11. Remove some mentions and send it again.")
    assert error["details"]["standing"] == "established"
    mine = await make_post(limited, regular, content="Draft", is_published=False)
    r = await limited.patch(f"/api/v1/posts/{mine['id']}", headers=regular["headers"],
                            json={"content": _mentioning(people[:11])})
    assert r.status_code == 422

    admin = await admin_of(limited, owner_conn)
    await make_post(limited, admin, content=_mentioning(people))
    assert await _mentions_of(owner_conn) == 25


async def test_mentions_are_counted_as_the_database_finds_them(owner_conn):
    """The limit and the notifications read mentions with one pattern."""
    definition = await owner_conn.fetchval(
        "SELECT pg_get_functiondef('public.mentioned_usernames(text)'::regprocedure)")
    assert f"'{MENTION_PATTERN}'" in definition


# --- AI answers ----------------------------------------------------------------------------------


def _asker(client: httpx.AsyncClient):  # noqa: ANN202
    async def ask(user: dict, question_id: str) -> httpx.Response:
        return await client.post(f"/api/v1/questions/{question_id}/ai-answers",
                                 headers=user["headers"])
    return ask


async def test_requests_for_ai_answers_are_limited_by_standing(request, test_db, engine, tmp_path,
                                                               settings, owner_conn,
                                                               llm):  # noqa: F811
    async for env in _env(request, test_db, engine, tmp_path, write_limits_enabled=True,
                          ai_base_url=llm.url, ai_model="test-model", ai_timeout_seconds=5,
                          ai_allow_general_knowledge=True, **_no_refill(settings)):
        admin = await admin_of(env.client, owner_conn)
        questions = [(await make_question(env.client, admin))["id"] for _ in range(27)]

        ask = _asker(env.client)
        newcomer = await make_user(env.client)
        statuses = [(await ask(newcomer, q)).status_code for q in questions[:4]]
        assert statuses == [202] * 3 + [429]
        r = await ask(newcomer, questions[3])
        error = r.json()["error"]
        assert error["code"] == "write_rate_limited"
        assert error["details"]["kind"] == "ai_answer" and error["details"]["standing"] == "new"
        assert error["message"].startswith("New accounts may send 3 requests for AI answers per ")
        assert "Confirming your email" in error["message"]
        assert int(r.headers["retry-after"]) >= 1

        regular = await make_established(env.client, owner_conn)
        statuses = [(await ask(regular, q)).status_code for q in questions[4:15]]
        assert statuses == [202] * 10 + [429]
        assert (await ask(regular, questions[15])).json()["error"]["details"]["standing"] == \
            "established"
        statuses = [(await ask(admin, q)).status_code for q in questions[15:27]]
        assert statuses == [202] * 12

        # Every accepted request, and only those, reaches the model.
        for n in range(25):
            llm.answer(f"Start with the basics of topic {n}, then practise.")
        await env.work()
        assert len(llm.requests) == 25
        made = {r["requested_by"]: r["n"] for r in await owner_conn.fetch(
            "SELECT requested_by::text, count(*) AS n FROM ai_answers WHERE status = 'completed'"
            " GROUP BY 1")}
        assert made == {newcomer["user"]["id"]: 3, regular["user"]["id"]: 10,
                        admin["user"]["id"]: 12}
