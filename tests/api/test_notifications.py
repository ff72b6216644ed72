"""Notifications through HTTP: each type, never for one's own actions, coalescing,
preferences, reading and marking read, and what other users cannot do."""

from __future__ import annotations

import asyncio
import uuid

from tests.api import factories_qa as qa
from tests.api.conftest import make_user
from tests.api.factories_social import (
    edit,
    make_answer,
    make_comment,
    make_member,
    make_post,
    make_question,
    user_id,
    vote,
    withdraw_vote,
)
from tests.querycount import count_queries


async def _notifications(client, session, **params):
    r = await client.get("/api/v1/notifications", params=params, headers=session["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _unread(client, session) -> int:
    r = await client.get("/api/v1/notifications/unread-count", headers=session["headers"])
    assert r.status_code == 200, r.text
    return r.json()["count"]


def _summary(items):
    return [(n["type"], n["title"], n["data"]["target_type"], n["data"]["target_id"]) for n in items]


async def test_likes_comments_replies_answers_and_follows(client, engine):
    alice = await make_user(client, username="alice")
    bob = await make_user(client, username="bob")
    carol = await make_user(client, username="carol")
    post = await make_post(engine, alice, title="Joins explained")
    question = await make_question(engine, alice)

    # Own actions notify nobody.
    own_comment = await make_comment(engine, alice, post, content="My own note")
    await make_answer(engine, alice, question)
    assert await _notifications(client, alice) == []

    await vote(engine, bob, "post", post)
    await vote(engine, bob, "question", question, "downvote")  # a downvote is not a like
    bob_comment = await make_comment(engine, bob, post, content="Great <script>x</script> post")
    await make_comment(engine, alice, post, parent_id=bob_comment, content="Thanks!")  # reply to bob
    await vote(engine, carol, "comment", own_comment)
    await make_answer(engine, bob, question, content="Use LEFT JOIN")
    r = await client.put(f"/api/v1/users/{alice['user']['id']}/follow", headers=carol["headers"])
    assert r.status_code == 200

    items = await _notifications(client, alice)
    assert _summary(items) == [
        ("follow", "carol started following you", "user", alice["user"]["id"]),
        ("answer", "bob answered your question", "question", str(question)),
        ("like", "carol liked your comment", "comment", str(own_comment)),
        ("comment", "bob commented on your post", "post", str(post)),
        ("like", "bob liked your post", "post", str(post)),
    ]
    comment_note = items[3]
    assert comment_note["message"] == "Great <script>x</script> post"  # inert JSON text
    assert comment_note["data"]["comment_id"] == str(bob_comment)
    assert comment_note["data"]["actors"] == [{"id": bob["user"]["id"], "username": "bob",
                                               "avatar_url": None}]
    assert items[2]["data"]["post_id"] == str(post)
    assert all(n["is_read"] is False and n["data"]["count"] == 1 for n in items)

    assert _summary(await _notifications(client, bob)) == [
        ("comment", "alice replied to your comment", "comment", str(bob_comment)),
    ]
    assert await _notifications(client, carol) == []

    # A downvote switched to an upvote is a like.
    await vote(engine, bob, "question", question, "upvote")
    assert (await _notifications(client, alice))[0]["title"] == "bob upvoted your question"


async def test_replies_tell_comment_and_post_authors_once_each(client, engine):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    post = await make_post(engine, alice)
    alice_comment = await make_comment(engine, alice, post)
    bob_comment = await make_comment(engine, bob, post)

    await make_comment(engine, carol, post, parent_id=bob_comment)
    await make_comment(engine, carol, post, parent_id=alice_comment)

    bob_items = await _notifications(client, bob)
    assert [n["title"] for n in bob_items] == [f"{carol['user']['username']} replied to your comment"]
    alice_items = await _notifications(client, alice)
    # One reply to alice's comment; on her post: bob's comment and carol's reply to bob, coalesced.
    assert sorted((n["data"]["target_type"], n["data"]["count"]) for n in alice_items) == [
        ("comment", 1), ("post", 2)]
    post_note = next(n for n in alice_items if n["data"]["target_type"] == "post")
    assert post_note["title"] == "2 people commented on your post"
    assert [a["id"] for a in post_note["data"]["actors"]] == [carol["user"]["id"], bob["user"]["id"]]


async def test_mentions(client, engine):
    alice = await make_user(client, username="alice")
    bob = await make_user(client, username="bob")
    carol = await make_user(client, username="carol")
    dave = await make_user(client, username="dave")

    post = await make_post(engine, bob, content="Thanks @Alice, @carol and @nobody_here! Mail me: bob@alice.org @bob")
    assert _summary(await _notifications(client, alice)) == [("mention", "bob mentioned you in a post", "post", str(post))]
    assert len(await _notifications(client, carol)) == 1
    assert await _notifications(client, bob) == []  # mentioning yourself

    # The post author mentioned in a comment gets the comment notification, not a second one.
    comment = await make_comment(engine, carol, post, content="@bob agreed with @alice")
    assert [n["type"] for n in await _notifications(client, bob)] == ["comment"]
    assert [n["title"] for n in await _notifications(client, alice)][0] == "carol mentioned you in a comment"

    # An edit tells only people it newly mentions.
    await edit(engine, carol, "comments", comment, content="@bob agreed with @alice and @dave")
    assert _summary(await _notifications(client, dave)) == [
        ("mention", "carol mentioned you in a comment", "comment", str(comment))]
    alice_mentions = [n for n in await _notifications(client, alice) if n["type"] == "mention"]
    assert len(alice_mentions) == 2  # the post and the comment, not the edit again

    # Drafts mention nobody until published; answers and questions mention too.
    draft = await make_post(engine, bob, content="Draft for @carol", published=False)
    assert len(await _notifications(client, carol)) == 1
    await edit(engine, bob, "posts", draft, is_published=True)
    assert [n["data"]["target_id"] for n in await _notifications(client, carol)][0] == str(draft)
    question = await make_question(engine, alice, content="Any idea @carol?")
    await make_answer(engine, bob, question, content="@alice see @carol's post")
    carol_items = await _notifications(client, carol)
    assert [(n["type"], n["data"]["target_type"]) for n in carol_items[:2]] == [
        ("mention", "answer"), ("mention", "question")]
    # alice, the asker, got the answer notification only.
    assert (await _notifications(client, alice))[0]["type"] == "answer"


async def test_ten_concurrent_likes_coalesce_into_one_notification(client, engine, owner_conn):
    alice = await make_user(client)
    fans = [await make_member(owner_conn) for _ in range(11)]
    post = await make_post(engine, alice, title="Popular")

    await asyncio.gather(*(vote(engine, fan, "post", post) for fan in fans[:10]))

    items = await _notifications(client, alice)
    assert len(items) == 1
    note = items[0]
    assert note["title"] == "10 people liked your post"
    assert note["data"]["count"] == 10 and len(note["data"]["actors"]) == 3
    assert {a["id"] for a in note["data"]["actors"]} <= {f["user"]["id"] for f in fans[:10]}
    assert await _unread(client, alice) == 1

    # Withdrawing and giving the like again, while unread, is not a new like.
    latest = note["data"]["actors"][0]["id"]
    fan = next(f for f in fans if f["user"]["id"] == latest)
    await withdraw_vote(engine, fan, "post", post)
    await vote(engine, fan, "post", post)
    assert (await _notifications(client, alice))[0]["data"]["count"] == 10

    r = await client.post("/api/v1/notifications/read", json={"ids": [note["id"]]}, headers=alice["headers"])
    assert r.json() == {"marked": 1, "unread_count": 0}
    await vote(engine, fans[10], "post", post)
    items = await _notifications(client, alice)
    assert [(n["data"]["count"], n["is_read"]) for n in items] == [(1, False), (10, True)]
    assert items[0]["title"] == f"{fans[10]['user']['username']} liked your post"
    assert await owner_conn.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", user_id(alice)) == 2


async def test_preferences_turn_types_off(client, engine):
    alice = await make_user(client)
    bob = await make_user(client)
    url = "/api/v1/notifications/preferences"
    r = await client.get(url, headers=alice["headers"])
    assert r.status_code == 200
    assert r.json() == {"like": True, "comment": True, "follow": True, "answer": True, "mention": True,
                        "system": True, "updated_at": None}

    r = await client.patch(url, json={"like": False, "follow": False}, headers=alice["headers"])
    assert r.status_code == 200, r.text
    prefs = r.json()
    assert (prefs["like"], prefs["follow"], prefs["comment"]) == (False, False, True)
    assert prefs["updated_at"] is not None
    r = await client.patch(url, json={"follow": True}, headers=alice["headers"])
    assert (r.json()["like"], r.json()["follow"]) == (False, True)
    assert (await client.get(url, headers=alice["headers"])).json() == r.json()
    # bob's settings are his own.
    assert (await client.get(url, headers=bob["headers"])).json()["like"] is True

    post = await make_post(engine, alice)
    await vote(engine, bob, "post", post)
    await make_comment(engine, bob, post)
    assert [n["type"] for n in await _notifications(client, alice)] == ["comment"]

    for payload in ({"like": None}, {"likes": False}, {"like": "maybe"}):
        r = await client.patch(url, json=payload, headers=alice["headers"])
        assert r.status_code == 422, payload
    assert (await client.get(url)).status_code == 401
    assert (await client.patch(url, json={"like": True})).status_code == 401


async def test_reading_marking_and_privacy(client, engine, owner_conn):
    alice = await make_user(client)
    bob = await make_user(client)
    fans = [await make_member(owner_conn) for _ in range(3)]
    posts = [await make_post(engine, alice, title=f"Post {n}") for n in range(3)]
    for fan, post in zip(fans, posts, strict=True):
        await vote(engine, fan, "post", post)
    await client.put(f"/api/v1/users/{bob['user']['id']}/follow", headers=alice["headers"])

    assert await _unread(client, alice) == 3
    all_ids, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        with count_queries(engine) as log:
            r = await client.get("/api/v1/notifications", params=params, headers=alice["headers"])
        assert log.count == 2
        all_ids += [n["id"] for n in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(all_ids) == 3 and len(set(all_ids)) == 3

    # bob cannot read or mark alice's notifications: they do not exist for him.
    assert await _notifications(client, bob) != []  # his own follow notification
    assert not {n["id"] for n in await _notifications(client, bob)} & set(all_ids)
    r = await client.post("/api/v1/notifications/read", json={"ids": all_ids}, headers=bob["headers"])
    assert r.status_code == 200 and r.json() == {"marked": 0, "unread_count": 1}
    assert await _unread(client, alice) == 3

    r = await client.post("/api/v1/notifications/read", json={"ids": [all_ids[0], str(uuid.uuid4())]},
                          headers=alice["headers"])
    assert r.json() == {"marked": 1, "unread_count": 2}
    unread = await _notifications(client, alice, unread="true")
    assert {n["id"] for n in unread} == set(all_ids[1:])
    r = await client.post("/api/v1/notifications/read", json={"all": True}, headers=alice["headers"])
    assert r.json() == {"marked": 2, "unread_count": 0}
    assert await _notifications(client, alice, unread="true") == []
    assert len(await _notifications(client, alice)) == 3
    assert await _unread(client, bob) == 1

    for payload in ({}, {"ids": []}, {"all": False}, {"ids": [all_ids[0]], "all": True}, {"all": None},
                    {"ids": ["nope"]}, {"ids": [str(uuid.uuid4())] * 101}, {"everything": True}):
        r = await client.post("/api/v1/notifications/read", json=payload, headers=alice["headers"])
        assert r.status_code == 422, payload
    for method, path in (("GET", ""), ("GET", "/unread-count"), ("POST", "/read")):
        r = await client.request(method, f"/api/v1/notifications{path}", json={"all": True})
        assert r.status_code == 401, path


async def test_an_accepted_answer_tells_its_author_with_the_askers_avatar(client, owner_conn):
    asker, helper = await make_user(client), await make_user(client)
    avatar = f"/api/v1/users/{asker['user']['id']}/avatar?v=0123456789ab"
    await owner_conn.execute("UPDATE users SET avatar_url = $2 WHERE id = $1::uuid",
                             asker["user"]["id"], avatar)
    q = await qa.make_question(client, asker)
    answer = await qa.make_answer(client, helper, q["id"])
    r = await client.post(f"/api/v1/answers/{answer['id']}/accept", headers=asker["headers"])
    assert r.status_code == 200, r.text
    r = await client.get("/api/v1/notifications", headers=helper["headers"])
    (note,) = r.json()["items"]
    assert note["type"] == "answer" and note["title"] == f"{asker['user']['username']} accepted your answer"
    assert note["data"]["accepted"] is True and note["data"]["target_id"] == answer["id"]
    assert note["data"]["actors"] == [{"id": asker["user"]["id"], "username": asker["user"]["username"],
                                       "avatar_url": avatar}]
    # Withdrawing and accepting again does not notify twice while the first is unread.
    await client.delete(f"/api/v1/answers/{answer['id']}/accept", headers=asker["headers"])
    await client.post(f"/api/v1/answers/{answer['id']}/accept", headers=asker["headers"])
    r = await client.get("/api/v1/notifications", headers=helper["headers"])
    assert len(r.json()["items"]) == 1


async def test_marking_read_up_to_what_was_shown_leaves_what_came_since_unread(client, engine, owner_conn):
    """A reader marks read what they were shown (``until``: its newest ``created_at``); a
    notification that arrived since, or a shown one that another action has joined since,
    stays unread, with ``all`` and with ``ids`` alike."""
    alice = await make_user(client)
    fans = [await make_member(owner_conn) for _ in range(4)]
    liked, commented, other = [await make_post(engine, alice, title=f"Post {n}") for n in range(3)]
    await vote(engine, fans[0], "post", liked)
    await vote(engine, fans[1], "post", other)
    shown = await _notifications(client, alice)
    until = shown[0]["created_at"]
    shown_ids = [n["id"] for n in shown]

    await vote(engine, fans[2], "post", liked)  # joins a shown notification
    await vote(engine, fans[3], "post", commented)  # a new one
    r = await client.post("/api/v1/notifications/read", json={"ids": shown_ids, "until": until},
                          headers=alice["headers"])
    assert r.status_code == 200, r.text
    assert r.json() == {"marked": 1, "unread_count": 2}
    r = await client.post("/api/v1/notifications/read", json={"all": True, "until": until},
                          headers=alice["headers"])
    assert r.json() == {"marked": 0, "unread_count": 2}
    unread = await _notifications(client, alice, unread="true")
    assert {(n["data"]["target_id"], n["data"]["count"]) for n in unread} == {
        (str(liked), 2), (str(commented), 1)}
    # Without "until", everything.
    r = await client.post("/api/v1/notifications/read", json={"all": True}, headers=alice["headers"])
    assert r.json() == {"marked": 2, "unread_count": 0}
    # A time without its zone could be read in either; it is refused.
    r = await client.post("/api/v1/notifications/read", json={"all": True, "until": "2026-01-01T00:00:00"},
                          headers=alice["headers"])
    assert r.status_code == 422
