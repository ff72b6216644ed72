"""The group commit of chat messages in SQL (0034, 0035, 0036): ``chat_send_messages()`` sends
each item as its own sender, under RLS; an item that fails leaves nothing and fails alone
(the items around it in its run of one subtransaction are sent again); only the server's
service_role may call it, and no item can claim another role or subject."""

from __future__ import annotations

import json
import uuid

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    SERVICE,
    acting_as,
    as_user,
    expect_error,
    make_room,
    make_user,
)

CALL = "SELECT public.chat_send_messages($1::jsonb)::text"


def item(sender: uuid.UUID, room: uuid.UUID, content: str, **extra) -> dict:
    return {"sub": str(sender), "claims": {"sub": str(sender), "role": "authenticated"},
            "session": None, "room_id": str(room), "content": content,
            "message_type": "text", "file_id": None, "key": None, **extra}


async def test_only_the_server_role_sends_in_batches(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, alice, [bob])
    batch = json.dumps([item(bob, room, "as bob")])
    for caller in (ANON, as_user(alice)):
        async with acting_as(app_conn, caller):
            await expect_error(app_conn, ACCESS_DENIED, CALL, batch)
    # A client role cannot reach it through a function of its own either: nothing was sent.
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_messages WHERE room_id = $1", room) == 0


async def test_each_item_is_sent_as_its_sender_and_fails_alone(app_conn, owner_conn):
    alice, carol, outsider = [await make_user(owner_conn) for _ in range(3)]
    room = await make_room(owner_conn, alice, [carol])
    other = await make_room(owner_conn, alice)
    await owner_conn.execute("UPDATE chat_rooms SET is_active = false WHERE id = $1", other)
    kept = await make_room(owner_conn, carol)
    batch = [
        item(alice, room, "one"),
        item(outsider, room, "intruder"),
        # Claims that say service_role and another subject change nothing: sent as carol.
        item(carol, room, "as carol",
             claims={"role": "service_role", "sub": str(alice)}),
        item(alice, room, "ended", session=str(uuid.uuid4())),
        item(alice, other, "archived"),
        item(carol, kept, "elsewhere"),
    ]
    async with acting_as(app_conn, SERVICE):
        out = json.loads(await app_conn.fetchval(CALL, json.dumps(batch)))
        # The transaction is back to the server's role, with its own claims.
        assert await app_conn.fetchval("SELECT current_user") == "service_role"
        assert await app_conn.fetchval("SELECT auth.uid()") is None
        rows = await app_conn.fetch(
            "SELECT room_id, seq, sender_id, content FROM chat_messages"
            " WHERE room_id = ANY($1::uuid[]) ORDER BY room_id, seq", [room, other, kept])
        events = await app_conn.fetch(
            "SELECT room_id, seq, type FROM chat_room_events WHERE room_id = ANY($1::uuid[])"
            " AND type = 'message.created' ORDER BY room_id::text, seq", [room, other, kept])
    results = out["results"]
    assert [r["ord"] for r in results] == [1, 2, 3, 4, 5, 6]  # in the order given
    assert results[0]["message"]["content"] == "one"
    assert results[0]["message"]["sender_id"] == str(alice)
    assert results[0]["message"]["is_read"] is False
    assert (results[1]["sqlstate"], results[1]["error"].split(":")[0]) == (RAISED, "not_found")
    assert results[2]["message"]["sender_id"] == str(carol)
    assert results[2]["message"]["sender_username"] is not None
    assert results[3]["error"].startswith("session_ended:")
    assert results[4]["error"].startswith("conflict:")  # archived
    assert results[5]["message"]["room_id"] == str(kept)
    # Exactly the three good ones were written, numbered without gaps per room.
    assert [(r["room_id"], r["seq"], r["sender_id"], r["content"]) for r in rows] == sorted([
        (room, 1, alice, "one"), (room, 2, carol, "as carol"), (kept, 1, carol, "elsewhere"),
    ])
    # The events of the batch, and only those of the items written, as stored.
    assert sorted(e["payload"]["content"] for e in out["events"]) == [
        "as carol", "elsewhere", "one"]
    assert sorted((e["room_id"], e["seq"], e["type"]) for e in out["events"]) == [
        (str(r["room_id"]), r["seq"], r["type"]) for r in events]


async def test_a_retry_in_the_same_batch_is_the_first_message(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, alice, [bob])
    batch = [item(alice, room, "hello", key="k-1"), item(alice, room, "hello", key="k-1")]
    async with acting_as(app_conn, SERVICE):
        out = json.loads(await app_conn.fetchval(CALL, json.dumps(batch)))
    first, retry = (r["message"] for r in out["results"])
    assert first["id"] == retry["id"] and first["seq"] == 1
    assert len(out["events"]) == 1


async def test_each_message_of_a_batch_has_its_own_time(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, alice, [bob])
    batch = [item(alice if k % 2 else bob, room, f"m{k}") for k in range(5)]
    async with acting_as(app_conn, SERVICE):
        await app_conn.fetchval(CALL, json.dumps(batch))
        rows = await app_conn.fetch(
            "SELECT seq, created_at, now() AS tx_start FROM chat_messages"
            " WHERE room_id = $1 ORDER BY seq", room)
    times = [r["created_at"] for r in rows]
    # One transaction, yet each message is stamped when it was written, in seq order.
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert times == sorted(times) and len(set(times)) == 5
    assert times[0] >= rows[0]["tx_start"]


async def test_a_batch_that_is_not_a_list_is_refused(app_conn, owner_conn):
    async with acting_as(app_conn, SERVICE):
        await expect_error(app_conn, RAISED, CALL, json.dumps({"room_id": "x"}),
                           message="validation_error:")


async def test_after_a_failure_each_item_is_still_sent_as_its_own_sender(app_conn, owner_conn):
    # Rooms in the order the batch takes them (by id). b fails in r1 after a's message in
    # r0 was written, so a's claims were the ones in force when b's run was rolled back;
    # b's next message, in a room a is in as well, must still be b's.
    a, b, c = [await make_user(owner_conn) for _ in range(3)]
    rooms = sorted([await make_room(owner_conn, a, [b]) for _ in range(4)], key=str)
    r0, r1, r2, r3 = rooms
    await owner_conn.execute(
        "UPDATE chat_rooms SET is_active = false WHERE id = ANY($1::uuid[])", [r1, r2])
    batch = [
        item(b, r3, "b in r3"),
        item(a, r0, "a in r0"),
        item(c, r1, "c is not in r1"),
        item(b, r1, "r1 is archived"),
        item(b, r2, "r2 is archived too"),
        item(a, r3, "a in r3"),
    ]
    async with acting_as(app_conn, SERVICE):
        out = json.loads(await app_conn.fetchval(CALL, json.dumps(batch)))
        rows = await app_conn.fetch(
            "SELECT room_id, seq, sender_id, content FROM chat_messages"
            " WHERE room_id = ANY($1::uuid[]) ORDER BY room_id::text, seq", rooms)
        assert await app_conn.fetchval("SELECT current_user") == "service_role"
    results = out["results"]
    assert [r["ord"] for r in results] == [1, 2, 3, 4, 5, 6]
    assert results[0]["message"]["sender_id"] == str(b)
    assert results[1]["message"]["sender_id"] == str(a)
    assert results[2]["error"].startswith("not_found:")
    assert results[3]["error"].startswith("conflict:")
    assert results[4]["error"].startswith("conflict:")
    assert results[5]["message"]["sender_id"] == str(a)
    # Written once each, by their own senders, numbered without gaps: the run rolled back
    # by a failure left nothing behind.
    assert [(r["room_id"], r["seq"], r["sender_id"], r["content"]) for r in rows] == [
        (r0, 1, a, "a in r0"), (r3, 1, b, "b in r3"), (r3, 2, a, "a in r3")]
    assert [(r["message"]["room_id"], r["message"]["seq"]) for r in results if "message" in r] == [
        (str(r3), 1), (str(r0), 1), (str(r3), 2)]
    assert sorted((e["room_id"], e["payload"]["seq"], e["payload"]["content"])
                  for e in out["events"]) == sorted([
        (str(r0), 1, "a in r0"), (str(r3), 1, "b in r3"), (str(r3), 2, "a in r3")])


async def test_a_batch_whose_items_all_fail_writes_nothing(app_conn, owner_conn):
    alice, outsider = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, alice)
    batch = [item(outsider, room, "one"), item(outsider, room, "two"),
             item(alice, room, "bad type", message_type="system")]
    async with acting_as(app_conn, SERVICE):
        out = json.loads(await app_conn.fetchval(CALL, json.dumps(batch)))
        assert await app_conn.fetchval(
            "SELECT last_seq FROM chat_rooms WHERE id = $1", room) == 0
    assert [r["error"].split(":")[0] for r in out["results"]] == [
        "not_found", "not_found", "validation_error"]
    assert out["events"] == []


async def test_the_read_back_says_whether_the_others_have_read_it(app_conn, owner_conn):
    # A retry returns the first message as it is now: read by everyone else once they have.
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, alice, [bob])
    batch = json.dumps([item(alice, room, "hello", key="k-read")])
    async with acting_as(app_conn, SERVICE):
        first = json.loads(await app_conn.fetchval(CALL, batch))["results"][0]["message"]
        assert first["is_read"] is False
        await app_conn.execute(
            "UPDATE chat_room_participants SET last_read_seq = 1 WHERE room_id = $1"
            " AND user_id = $2", room, bob)
        again = json.loads(await app_conn.fetchval(CALL, batch))["results"][0]["message"]
    assert again["id"] == first["id"] and again["is_read"] is True


async def test_a_key_reused_for_another_message_is_refused_and_names_the_first(
        app_conn, owner_conn):
    """chat_send_message() (0049): the same key again is a retry only of the same message;
    with other content (or type, or file) it is refused, with the first message's id as the detail,
    and nothing is written. After an edit, the first content is no longer compared."""
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, alice, [bob])
    send = "SELECT id FROM public.chat_send_message($1, $2, $3::message_type, NULL, 'k-1')"
    async with acting_as(app_conn, as_user(alice)):
        first = await app_conn.fetchval(send, room, "see you at 5", "text")
        assert await app_conn.fetchval(send, room, "see you at 5", "text") == first  # a retry
        err = await expect_error(app_conn, RAISED, send, room, "see you at 6", "text",
                                 message="idempotency_key_reused:")
        assert err.detail == str(first)
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_messages WHERE room_id = $1", room) == 1
        await app_conn.execute("UPDATE chat_messages SET content = 'see you at 6' WHERE id = $1",
                               first)
        assert await app_conn.fetchval(send, room, "see you at 5", "text") == first
    # Through the group commit, the detail comes back with the item's error.
    await owner_conn.execute(
        "INSERT INTO chat_messages (room_id, sender_id, content, idempotency_key)"
        " VALUES ($1, $2, 'first', 'k-2')", room, bob)
    async with acting_as(app_conn, SERVICE):
        out = json.loads(await app_conn.fetchval(CALL, json.dumps(
            [item(bob, room, "second", key="k-2"), item(bob, room, "third", key="k-3")])))
    refused, sent = out["results"]
    assert refused["error"].startswith("idempotency_key_reused:")
    assert refused["detail"] == str(await owner_conn.fetchval(
        "SELECT id FROM chat_messages WHERE idempotency_key = 'k-2'"))
    assert sent["message"]["content"] == "third"
