"""Odd input to chat over the socket and in the messages' group commit: refused alone, with
the field named, never taking other people's messages down with it."""

from __future__ import annotations

import asyncio
from uuid import UUID

from pydantic import ValidationError

from focushub.chat import service as chat_service
from focushub.chat.schemas import MessageCreate, MessageRead
from tests.api.conftest import make_user
from tests.realtime.conftest import ready_ws
from tests.realtime.test_gateway import ROOMS, group
from tests.realtime.test_group_commit import runtime
from tests.realtime.test_ordering import caller_of


async def test_a_message_with_a_nul_is_refused_alone_and_names_its_field(
        live_server, http, test_db, engine, two_buses):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    rt = runtime(test_db, engine, two_buses[0])

    async def send(sender, body):
        # As the router and the gateway take a message: validated, then sent.
        data = MessageCreate.model_validate(body)
        return await chat_service.send_message(rt, caller_of(sender), UUID(room["id"]), data)

    try:
        # Waiting at the same moment: one batch, one transaction.
        nul_content, fine, nul_key = await asyncio.gather(
            send(alice, {"content": "a\x00b"}), send(bob, {"content": "fine"}),
            send(alice, {"content": "ok", "idempotency_key": "k\x00"}), return_exceptions=True)
    finally:
        await rt.stop()
    assert isinstance(fine, MessageRead) and fine.content == "fine", fine
    assert isinstance(nul_content, ValidationError)
    assert [e["loc"] for e in nul_content.errors()] == [("content",)]
    assert isinstance(nul_key, ValidationError)
    assert [e["loc"] for e in nul_key.errors()] == [("idempotency_key",)]

    over_rest = await http.post(f"{ROOMS}/{room['id']}/messages", json={"content": "a\x00b"},
                                headers=alice["headers"])
    assert over_rest.status_code == 422
    assert [d["loc"] for d in over_rest.json()["error"]["details"]] == [["body", "content"]]

    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws.send({"type": "message.send", "room_id": room["id"], "content": "a\x00b",
                   "request_id": "r1"})
    error = await ws.recv()
    assert error["type"] == "error" and error["code"] == "validation_error"
    assert error["request_id"] == "r1"
    assert [d["loc"] for d in error["details"]] == [["content"]]
    await ws.close()


async def test_a_message_refused_over_the_socket_carries_the_details_rest_gives(live_server, http):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    first = await http.post(f"{ROOMS}/{room['id']}/messages",
                            json={"content": "one", "idempotency_key": "k1"},
                            headers=bob["headers"])
    assert first.status_code == 201
    over_rest = await http.post(f"{ROOMS}/{room['id']}/messages",
                                json={"content": "two", "idempotency_key": "k1"},
                                headers=bob["headers"])
    assert over_rest.status_code == 409
    assert over_rest.json()["error"]["details"] == {"message_id": first.json()["id"]}

    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws.send({"type": "message.send", "room_id": room["id"], "content": "two",
                   "idempotency_key": "k1", "request_id": "r1"})
    error = await ws.recv()
    assert error["type"] == "error" and error["code"] == "idempotency_key_reused"
    assert error["request_id"] == "r1"
    assert error["details"] == {"message_id": first.json()["id"]}
    await ws.close()
