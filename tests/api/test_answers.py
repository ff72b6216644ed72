"""Answers through HTTP: writing, editing, deleting, paging, and acceptance by the asker,
including many accepts racing for one question."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from typing import Any

from focushub.core.db import Caller, transaction
from tests.api.conftest import make_user
from tests.api.factories_qa import make_answer, make_question

Q = "/api/v1/questions"
A = "/api/v1/answers"


async def _make_admin(client, owner_conn) -> dict[str, Any]:
    admin = await make_user(client)
    await owner_conn.execute("UPDATE users SET role = 'admin' WHERE id = $1", uuid.UUID(admin["user"]["id"]))
    return admin


async def _recount(owner_conn, question_id: str) -> tuple[int, int, int, str]:
    """(answers_count, actual answers, accepted answers, status) straight from the tables."""
    qid = uuid.UUID(question_id)
    row = await owner_conn.fetchrow(
        "SELECT q.answers_count, q.status::text AS status,"
        " (SELECT count(*) FROM answers a WHERE a.question_id = q.id) AS real,"
        " (SELECT count(*) FROM answers a WHERE a.question_id = q.id AND a.is_accepted) AS accepted"
        " FROM questions q WHERE q.id = $1", qid)
    return row["answers_count"], row["real"], row["accepted"], row["status"]


async def test_answer_a_question(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client, full_name="Bob B")
    q = await make_question(client, alice)
    r = await client.post(f"{Q}/{q['id']}/answers", headers=bob["headers"],
                          json={"content": "  Try *this*:\n\n```py\nprint(1)\n```"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["content"] == "  Try *this*:\n\n```py\nprint(1)\n```"
    assert (a["question_id"], a["is_accepted"], a["votes_count"], a["my_vote"]) == (q["id"], False, 0, None)
    assert a["author"] == {"id": bob["user"]["id"], "username": bob["user"]["username"],
                           "full_name": "Bob B", "avatar_url": None}
    assert await _recount(owner_conn, q["id"]) == (1, 1, 0, "open")

    # Answering your own question is fine.
    await make_answer(client, alice, q["id"])
    assert await _recount(owner_conn, q["id"]) == (2, 2, 0, "open")


async def test_answers_need_a_signed_in_author_and_valid_content(client, owner_conn):
    alice = await make_user(client)
    q = await make_question(client, alice)
    url = f"{Q}/{q['id']}/answers"
    assert (await client.post(url, json={"content": "anon"})).status_code == 401
    for payload in ({}, {"content": ""}, {"content": "   "}, {"content": "x" * 20_001}, {"content": None},
                    {"content": "ok", "is_accepted": True}, {"content": "ok", "question_id": q["id"]},
                    {"content": "ok", "votes_count": 9}):
        r = await client.post(url, headers=alice["headers"], json=payload)
        assert r.status_code == 422, (payload, r.text)
    r = await client.post(f"{Q}/nope/answers", headers=alice["headers"], json={"content": "x"})
    assert r.status_code == 422
    r = await client.post(url, headers=alice["headers"], json={"content": "x" * 20_000})
    assert r.status_code == 201
    assert await _recount(owner_conn, q["id"]) == (1, 1, 0, "open")


async def test_script_in_an_answer_is_inert_json(client):
    alice = await make_user(client)
    q = await make_question(client, alice)
    script = '<script>document.location="https://evil.example"</script>'
    a = await make_answer(client, alice, q["id"], content=script)
    assert a["content"] == script
    r = await client.get(f"{Q}/{q['id']}/answers")
    assert r.headers["content-type"] == "application/json"
    assert r.json()["items"][0]["content"] == script


async def test_only_the_author_edits_an_answer(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    admin = await _make_admin(client, owner_conn)
    q = await make_question(client, alice)
    a = await make_answer(client, bob, q["id"])
    url = f"{A}/{a['id']}"

    r = await client.patch(url, headers=bob["headers"], json={"content": "Improved"})
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "Improved" and r.json()["updated_at"] > a["updated_at"]
    for session in (alice, admin):  # the asker and admins do not rewrite answers
        r = await client.patch(url, headers=session["headers"], json={"content": "Mine"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "not_answer_author")
    assert (await client.patch(url, json={"content": "Anon"})).status_code == 401
    for payload in ({}, {"content": None}, {"content": ""}, {"content": "x" * 20_001}, {"is_accepted": True}):
        r = await client.patch(url, headers=bob["headers"], json=payload)
        assert r.status_code == 422, (payload, r.text)
    r = await client.patch(f"{A}/{uuid.uuid4()}", headers=bob["headers"], json={"content": "x"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "answer_not_found")
    assert (await client.patch(f"{A}/123", headers=bob["headers"], json={"content": "x"})).status_code == 422
    stored = await owner_conn.fetchval("SELECT content FROM answers WHERE id = $1", uuid.UUID(a["id"]))
    assert stored == "Improved"


async def test_delete_own_or_any_as_admin_keeps_answers_count_exact(client, owner_conn):
    alice, bob, carol = await make_user(client), await make_user(client), await make_user(client)
    admin = await _make_admin(client, owner_conn)
    q = await make_question(client, alice)
    bobs = [await make_answer(client, bob, q["id"]) for _ in range(3)]
    carols = await make_answer(client, carol, q["id"])
    assert await _recount(owner_conn, q["id"]) == (4, 4, 0, "open")

    for session in (alice, carol):  # not even the asker deletes someone else's answer
        r = await client.delete(f"{A}/{bobs[0]['id']}", headers=session["headers"])
        assert (r.status_code, r.json()["error"]["code"]) == (403, "not_answer_author")
    assert (await client.delete(f"{A}/{bobs[0]['id']}")).status_code == 401
    assert (await client.delete(f"{A}/{bobs[0]['id']}", headers=bob["headers"])).status_code == 204
    assert (await client.delete(f"{A}/{bobs[0]['id']}", headers=bob["headers"])).status_code == 404
    assert (await client.delete(f"{A}/{carols['id']}", headers=admin["headers"])).status_code == 204
    assert await _recount(owner_conn, q["id"]) == (2, 2, 0, "open")
    assert (await client.get(f"{Q}/{q['id']}")).json()["answers_count"] == 2

    # Concurrent writes and deletes leave the counter exact.
    extra = await asyncio.gather(*(client.post(f"{Q}/{q['id']}/answers", headers=carol["headers"],
                                               json={"content": f"parallel {i}"}) for i in range(6)))
    assert all(r.status_code == 201 for r in extra)
    gone = await asyncio.gather(*(client.delete(f"{A}/{r.json()['id']}", headers=carol["headers"])
                                  for r in extra[:4]),
                                client.delete(f"{A}/{bobs[1]['id']}", headers=bob["headers"]))
    assert all(r.status_code == 204 for r in gone)
    assert await _recount(owner_conn, q["id"]) == (3, 3, 0, "open")


# ------------------------------------------------------------------ accepting

async def test_only_the_asker_accepts(client, owner_conn):
    alice, bob, carol = await make_user(client), await make_user(client), await make_user(client)
    admin = await _make_admin(client, owner_conn)
    q = await make_question(client, alice)
    a = await make_answer(client, bob, q["id"])
    url = f"{A}/{a['id']}/accept"

    for session in (bob, carol, admin):
        r = await client.post(url, headers=session["headers"])
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "not_question_author"  # the SQL function's refusal
        r = await client.delete(url, headers=session["headers"])
        assert (r.status_code, r.json()["error"]["code"]) == (403, "not_question_author")
    assert (await client.post(url)).status_code == 401
    assert (await client.delete(url)).status_code == 401
    assert (await client.post(f"{A}/{uuid.uuid4()}/accept", headers=alice["headers"])).status_code == 404
    assert (await client.delete(f"{A}/{uuid.uuid4()}/accept", headers=alice["headers"])).status_code == 404
    assert (await client.post(f"{A}/zzz/accept", headers=alice["headers"])).status_code == 422
    assert await _recount(owner_conn, q["id"]) == (1, 1, 0, "open")

    r = await client.post(url, headers=alice["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == a["id"] and r.json()["is_accepted"] is True
    assert await _recount(owner_conn, q["id"]) == (1, 1, 1, "answered")
    assert (await client.post(url, headers=alice["headers"])).status_code == 200  # again: no change
    assert await _recount(owner_conn, q["id"]) == (1, 1, 1, "answered")

    # An answer a moderator hid is not there for her to accept, nor to withdraw.
    hidden = await make_answer(client, carol, q["id"])
    await owner_conn.execute("UPDATE answers SET hidden_at = now() WHERE id = $1::uuid",
                             hidden["id"])
    for method in (client.post, client.delete):
        r = await method(f"{A}/{hidden['id']}/accept", headers=alice["headers"])
        assert r.status_code == 404, r.text
    assert await owner_conn.fetchval("SELECT is_accepted FROM answers WHERE id = $1::uuid",
                                     hidden["id"]) is False
    assert await _recount(owner_conn, q["id"]) == (2, 2, 1, "answered")


async def test_switch_withdraw_and_delete_the_accepted_answer(client, owner_conn):
    alice, bob, carol = await make_user(client), await make_user(client), await make_user(client)
    q = await make_question(client, alice)
    first, second = await make_answer(client, bob, q["id"]), await make_answer(client, carol, q["id"])

    await client.post(f"{A}/{first['id']}/accept", headers=alice["headers"])
    r = await client.post(f"{A}/{second['id']}/accept", headers=alice["headers"])
    assert r.status_code == 200 and r.json()["is_accepted"] is True
    accepted = await owner_conn.fetch("SELECT id FROM answers WHERE is_accepted")
    assert [str(row["id"]) for row in accepted] == [second["id"]]
    detail = (await client.get(f"{Q}/{q['id']}")).json()
    assert [x["id"] for x in detail["answers"]] == [second["id"], first["id"]]
    assert (detail["status"], detail["has_accepted_answer"]) == ("answered", True)

    # Withdrawing another answer's acceptance changes nothing.
    r = await client.delete(f"{A}/{first['id']}/accept", headers=alice["headers"])
    assert r.status_code == 200 and r.json()["is_accepted"] is False
    assert await _recount(owner_conn, q["id"]) == (2, 2, 1, "answered")
    r = await client.delete(f"{A}/{second['id']}/accept", headers=alice["headers"])
    assert r.status_code == 200 and r.json()["is_accepted"] is False
    assert await _recount(owner_conn, q["id"]) == (2, 2, 0, "open")

    # Deleting the accepted answer reopens the question.
    await client.post(f"{A}/{first['id']}/accept", headers=alice["headers"])
    assert (await client.delete(f"{A}/{first['id']}", headers=bob["headers"])).status_code == 204
    assert await _recount(owner_conn, q["id"]) == (1, 1, 0, "open")


async def test_a_closed_question_keeps_its_acceptance(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    q = await make_question(client, alice)
    first, second = await make_answer(client, bob, q["id"]), await make_answer(client, bob, q["id"])
    await client.post(f"{A}/{first['id']}/accept", headers=alice["headers"])
    await client.post(f"{Q}/{q['id']}/close", headers=alice["headers"])
    for method, answer in (("POST", second), ("DELETE", first)):
        r = await client.request(method, f"{A}/{answer['id']}/accept", headers=alice["headers"])
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "conflict"
    assert await _recount(owner_conn, q["id"]) == (2, 2, 1, "closed")
    # Editing an answer of a closed question is still allowed; adding one is not.
    r = await client.patch(f"{A}/{second['id']}", headers=bob["headers"], json={"content": "fix"})
    assert r.status_code == 200


async def test_parallel_accepts_leave_exactly_one_accepted_answer(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    q = await make_question(client, alice)
    answers = [await make_answer(client, bob, q["id"]) for _ in range(12)]

    responses = await asyncio.gather(*(
        client.post(f"{A}/{a['id']}/accept", headers=alice["headers"]) for a in answers for _ in range(2)
    ))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert await _recount(owner_conn, q["id"]) == (12, 12, 1, "answered")

    # Accepts and withdrawals racing: the database still never holds two.
    await asyncio.gather(*(
        client.request("POST" if i % 3 else "DELETE", f"{A}/{a['id']}/accept", headers=alice["headers"])
        for i, a in enumerate(answers)
    ))
    count, real, accepted, status = await _recount(owner_conn, q["id"])
    assert (count, real) == (12, 12) and accepted <= 1
    assert status == ("answered" if accepted else "open")


# ------------------------------------------------------------------ listing

async def test_answers_page_in_display_order(client, owner_conn, engine):
    alice, bob, carol = await make_user(client), await make_user(client), await make_user(client)
    q = await make_question(client, alice)
    made = [await make_answer(client, bob, q["id"], content=f"a{i}") for i in range(6)]
    # Scores: a1 = 5, a3 = 5, a4 = -1, the rest 0; a5 accepted.
    for answer, votes in ((made[1], 5), (made[3], 5), (made[4], -1)):
        await owner_conn.execute("UPDATE answers SET votes_count = $2 WHERE id = $1",
                                 uuid.UUID(answer["id"]), votes)
    await client.post(f"{A}/{made[5]['id']}/accept", headers=alice["headers"])
    caller = Caller(role="authenticated", user_id=uuid.UUID(carol["user"]["id"]))
    async with transaction(engine, caller) as tx:
        await tx.execute("INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
                         " VALUES (auth.uid(), 'answer', :id, 'upvote')", id=uuid.UUID(made[0]["id"]))

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{Q}/{q['id']}/answers", params=params, headers=carol["headers"])
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert [a["content"] for a in seen] == ["a5", "a1", "a3", "a0", "a2", "a4"]
    assert [a["my_vote"] for a in seen] == [None, None, None, "upvote", None, None]

    for params in ({"cursor": "garbage"}, {"cursor": "WzEsMiwzXQ"}):
        assert (await client.get(f"{Q}/{q['id']}/answers", params=params)).status_code == 400
    assert (await client.get(f"{Q}/{q['id']}/answers", params={"limit": 101})).status_code == 422
    empty = await make_question(client, alice)
    r = await client.get(f"{Q}/{empty['id']}/answers")
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}
    # A question hidden by a moderator takes its answers with it: not there for others,
    # still there for its author.
    await owner_conn.execute("UPDATE questions SET hidden_at = now() WHERE id = $1::uuid", q["id"])
    for headers in ({}, carol["headers"]):
        r = await client.get(f"{Q}/{q['id']}/answers", headers=headers)
        assert r.status_code == 404, r.text
        error = r.json()["error"]  # the body is the error alone, naming none of the answers
        assert set(r.json()) == {"error"} and not error["details"] and "a5" not in error["message"]
    r = await client.get(f"{Q}/{q['id']}/answers", headers=alice["headers"])
    assert r.status_code == 200 and len(r.json()["items"]) == 6


async def test_a_cursor_score_beyond_what_a_counter_holds_is_an_invalid_cursor(client):
    """votes_count is an integer column: a cursor of a question's answers whose score no
    counter can hold is 400 invalid_cursor (it was 422 from the database driver)."""
    alice = await make_user(client)
    q = await make_question(client, alice)
    await make_answer(client, alice, q["id"])
    tag = hashlib.blake2b(f"answers:{q['id']}".encode(), digest_size=4).hexdigest()

    def forged(*values: object) -> str:
        return base64.urlsafe_b64encode(json.dumps([tag, *values]).encode()).rstrip(b"=").decode()

    url, when, anyone = f"{Q}/{q['id']}/answers", "2026-01-01T00:00:00+00:00", str(uuid.uuid4())
    for cursor in (forged(1, 2**31, when, anyone), forged(1, -(2**40), when, anyone)):
        r = await client.get(url, params={"cursor": cursor})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_cursor"), r.text
    r = await client.get(url, params={"cursor": forged(0, -(2**31) + 1, when, anyone)})
    assert r.status_code == 200 and len(r.json()["items"]) == 1, r.text
