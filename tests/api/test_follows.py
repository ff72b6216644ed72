"""Following people through HTTP: follow rules, idempotence, counts, the two lists."""

from __future__ import annotations

import uuid

from tests.api.conftest import admin_of, make_user
from tests.api.factories_social import follow, make_member, user_id
from tests.querycount import count_queries


async def test_follow_and_unfollow_are_idempotent_and_counted(client, owner_conn):
    alice = await make_user(client)
    bob = await make_user(client)
    url = f"/api/v1/users/{bob['user']['id']}/follow"

    for _ in range(2):
        r = await client.put(url, headers=alice["headers"])
        assert r.status_code == 200, r.text
        assert r.json() == {"user_id": bob["user"]["id"], "following": True,
                            "followers_count": 1, "following_count": 0}
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM followers WHERE follower_id = $1 AND following_id = $2",
        user_id(alice), user_id(bob)) == 1

    state = (await client.get(url, headers=alice["headers"])).json()
    assert state["following"] is True
    anon_state = (await client.get(url)).json()
    assert anon_state["following"] is None and anon_state["followers_count"] == 1

    for _ in range(2):
        r = await client.delete(url, headers=alice["headers"])
        assert r.status_code == 200, r.text
        assert r.json()["following"] is False and r.json()["followers_count"] == 0
    assert await owner_conn.fetchval("SELECT count(*) FROM followers") == 0


async def test_follow_refusals(client):
    alice = await make_user(client)
    me = f"/api/v1/users/{alice['user']['id']}/follow"

    for method in ("PUT", "DELETE"):  # named as blocking or muting oneself is (block_self)
        r = await client.request(method, me, headers=alice["headers"])
        assert r.status_code == 422 and r.json()["error"]["code"] == "follow_self", r.text

    nobody = f"/api/v1/users/{uuid.uuid4()}/follow"
    for method in ("PUT", "DELETE", "GET"):
        r = await client.request(method, nobody, headers=alice["headers"])
        assert r.status_code == 404, (method, r.text)
        assert r.json()["error"]["code"] == "user_not_found"
    for path in ("followers", "following"):
        assert (await client.get(f"/api/v1/users/{uuid.uuid4()}/{path}")).status_code == 404

    r = await client.put("/api/v1/users/not-a-uuid/follow", headers=alice["headers"])
    assert r.status_code == 422
    r = await client.put(me)  # anonymous
    assert r.status_code == 401


async def test_lists_paginate_newest_first_with_counts(client, engine, owner_conn):
    star = await make_member(owner_conn)
    fans = [await make_member(owner_conn), await make_user(client)]
    fans += [await make_member(owner_conn) for _ in range(3)]
    for fan in fans:
        await follow(engine, fan, star)
    # star follows fans[0] back; fans[1] follows fans[0] too.
    await follow(engine, star, fans[0])
    r = await client.put(f"/api/v1/users/{fans[0]['user']['id']}/follow", headers=fans[1]["headers"])
    assert r.status_code == 200

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        with count_queries(engine) as log:
            r = await client.get(f"/api/v1/users/{star['user']['id']}/followers", params=params,
                                 headers=fans[1]["headers"])
        assert r.status_code == 200, r.text
        assert log.count == 3  # role switch, counts, page
        body = r.json()
        assert (body["total"], body["followers_count"], body["following_count"]) == (5, 5, 1)
        assert len(body["items"]) <= 2
        seen += [item["username"] for item in body["items"]]
        for item in body["items"]:
            # fans[1] follows star and fans[0]; nobody else in this list.
            assert item["followed_by_me"] is (item["id"] == fans[0]["user"]["id"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [fan["user"]["username"] for fan in reversed(fans)]

    following = (await client.get(f"/api/v1/users/{star['user']['id']}/following")).json()
    assert [u["username"] for u in following["items"]] == [fans[0]["user"]["username"]]
    assert following["total"] == 1 and following["items"][0]["followed_by_me"] is None
    assert set(following["items"][0]) == {"id", "username", "full_name", "avatar_url", "followed_at",
                                          "followed_by_me"}

    r = await client.get(f"/api/v1/users/{star['user']['id']}/followers", params={"cursor": "garbage"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    r = await client.get(f"/api/v1/users/{star['user']['id']}/followers", params={"limit": 0})
    assert r.status_code == 422


async def test_a_deactivated_account_is_not_found_nor_followed_but_by_admins(client, owner_conn):
    """0051: an account an administrator took off the platform has no profile for others,
    and nobody new follows it; those who followed it before still do."""
    alice, bob, carol = [await make_user(client) for _ in range(3)]
    bob_id = bob["user"]["id"]
    r = await client.put(f"/api/v1/users/{bob_id}/follow", headers=carol["headers"])
    assert r.status_code == 200, r.text
    await owner_conn.execute("UPDATE users SET is_active = false WHERE id = $1::uuid", bob_id)
    for path in (f"/api/v1/users/{bob_id}", f"/api/v1/users/{bob['user']['username']}",
                 f"/api/v1/users/{bob_id}/follow"):
        r = await client.get(path, headers=alice["headers"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found", path
    r = await client.put(f"/api/v1/users/{bob_id}/follow", headers=alice["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM followers WHERE following_id = $1::uuid", bob_id) == 1
    admin = await admin_of(client, owner_conn)
    r = await client.get(f"/api/v1/users/{bob_id}", headers=admin["headers"])
    assert r.status_code == 200 and r.json()["username"] == bob["user"]["username"]


async def test_lists_leave_out_people_whose_profile_the_caller_may_not_see(client, engine, owner_conn):
    """A follower or followed person is listed only to whom their profile is there: not across
    a block (0025), not to anonymous callers when they show it to the signed-in only (0028),
    not when deactivated (0051, but to administrators). The counts stay those of every follow."""
    viewer = await make_user(client)
    star, plain, private, gone, troll = [await make_member(owner_conn) for _ in range(5)]
    for fan in (plain, private, gone, troll):
        await follow(engine, fan, star)
        await follow(engine, star, fan)
    await owner_conn.execute("INSERT INTO user_privacy (user_id, profile_visibility)"
                             " VALUES ($1, 'signed_in')", user_id(private))
    await owner_conn.execute("UPDATE users SET is_active = false WHERE id = $1", user_id(gone))
    r = await client.put(f"/api/v1/users/{troll['user']['id']}/block", headers=viewer["headers"])
    assert r.status_code == 204, r.text
    admin = await admin_of(client, owner_conn)

    expected = {
        "anonymous": ({}, [plain, troll]),
        "viewer": (viewer["headers"], [plain, private]),
        "admin": (admin["headers"], [plain, private, gone, troll]),
    }
    for who, (headers, shown) in expected.items():
        for path in ("followers", "following"):
            listed, cursor = [], None
            for _ in range(10):
                params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
                r = await client.get(f"/api/v1/users/{star['user']['id']}/{path}", params=params,
                                     headers=headers)
                assert r.status_code == 200, r.text
                body = r.json()
                assert (body["followers_count"], body["following_count"]) == (4, 4)
                listed += [item["id"] for item in body["items"]]
                if (cursor := body["next_cursor"]) is None:
                    break
            assert sorted(listed) == sorted(p["user"]["id"] for p in shown), (who, path)


async def test_unfollowing_someone_one_may_not_see_tells_nothing_of_them(client, owner_conn):
    """Across a block, or for a deactivated account, the follow state is 404 as for nobody
    (GET and PUT); DELETE answered 200 with their counts. It removes any follow of the
    caller's and answers 404 the same way."""
    alice, troll, carol, gone = [await make_user(client) for _ in range(4)]
    await client.put(f"/api/v1/users/{gone['user']['id']}/follow", headers=carol["headers"])
    r = await client.put(f"/api/v1/users/{troll['user']['id']}/block", headers=alice["headers"])
    assert r.status_code == 204, r.text
    await owner_conn.execute("UPDATE users SET is_active = false WHERE id = $1::uuid",
                             gone["user"]["id"])
    for who, whom in ((troll, alice), (alice, troll), (carol, gone)):
        url = f"/api/v1/users/{whom['user']['id']}/follow"
        for method in ("GET", "DELETE"):
            r = await client.request(method, url, headers=who["headers"])
            assert r.status_code == 404, (method, r.text)
            assert r.json()["error"]["code"] == "user_not_found"
    # Carol no longer follows the deactivated account.
    assert await owner_conn.fetchval("SELECT count(*) FROM followers") == 0
    admin = await admin_of(client, owner_conn)
    r = await client.delete(f"/api/v1/users/{gone['user']['id']}/follow", headers=admin["headers"])
    assert r.status_code == 200 and r.json()["following"] is False
