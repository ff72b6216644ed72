"""A socket opened after its session ended hears nothing: the access token is still valid
for minutes, but the session it belongs to is over."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from focushub.realtime import gateway
from tests.api.conftest import make_user
from tests.realtime.conftest import open_ws


async def test_a_socket_opened_with_an_ended_session_hears_nothing(live_server, http):
    assert gateway.SESSION_RECHECK_SECONDS > 60  # not the periodic check that closes it
    alice, bob = await make_user(http), await make_user(http)
    r = await http.post("/api/v1/auth/logout", json={"refresh_token": bob["refresh_token"]})
    assert r.status_code == 204, r.text
    # Over HTTP the token is refused at once.
    me = await http.get("/api/v1/users/me", headers=bob["headers"])
    assert me.status_code == 401, me.text

    ws = await open_ws(live_server.ws_url, bob["access_token"])
    followed = await http.put(f"/api/v1/users/{bob['user']['id']}/follow",
                              headers=alice["headers"])
    assert followed.status_code == 200
    frames = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frames.append(await ws.recv())
    assert closed.value.rcvd.code == gateway.CLOSE_UNAUTHORIZED
    assert not [f for f in frames if f["type"] == "notification.created"], frames
