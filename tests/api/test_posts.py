"""Posts through HTTP: writing, drafts, who may change what, the keyset list."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import make_user
from tests.api.factories_content import make_comment, make_post
from tests.querycount import count_queries


async def _make_admin(owner_conn, session) -> None:
    await owner_conn.execute("UPDATE users SET role = 'admin' WHERE id = $1", uuid.UUID(session["user"]["id"]))


async def test_create_and_read_a_post(client):
    alice = await make_user(client, username="alice", full_name="Alice A")
    r = await client.post(
        "/api/v1/posts",
        headers=alice["headers"],
        json={"title": "  Recursion  ", "content": "# Base case\n\nfirst.", "category": "cs",
              "tags": [" Python", "python", "Data-Structures", "数学", "C++", "Node.JS"]},
    )
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["title"] == "Recursion"
    assert post["content"] == "# Base case\n\nfirst."  # Markdown stored as written
    assert post["category"] == "cs"
    assert post["tags"] == ["python", "data-structures", "数学", "c++", "node.js"]
    assert post["is_published"] is True
    assert (post["likes_count"], post["comments_count"], post["my_vote"]) == (0, 0, None)
    assert post["author"] == {"id": alice["user"]["id"], "username": "alice", "full_name": "Alice A",
                              "avatar_url": None}

    # The share link resolves to the same post, for anyone.
    link = urlsplit(post["share_url"])
    assert link.scheme in ("http", "https") and link.path == f"/api/v1/posts/{post['id']}"
    shared = await client.get(link.path)
    assert shared.status_code == 200
    assert shared.json() == post

    missing = await client.get(f"/api/v1/posts/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "post_not_found"
    assert (await client.get("/api/v1/posts/not-a-uuid")).status_code == 422


async def test_script_is_returned_as_inert_json(client):
    alice = await make_user(client)
    payload = "<script>alert('x')</script>"
    post = await make_post(client, alice, title=payload, content=payload)
    r = await client.get(f"/api/v1/posts/{post['id']}")
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["title"] == payload and r.json()["content"] == payload


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "x" * 256, "content": "c"},
        {"title": "   ", "content": "c"},
        {"title": "t", "content": " \n "},
        {"title": "t", "content": "x" * 20_001},
        {"title": "t", "content": "nul \x00 byte"},
        {"title": "t", "content": "c", "category": "x" * 51},
        {"title": "t", "content": "c", "tags": [f"t{i}" for i in range(11)]},
        {"title": "t", "content": "c", "tags": ["two words"]},
        {"title": "t", "content": "c", "tags": ["a/b"]},
        {"title": "t", "content": "c", "tags": ["++"]},
        {"title": "t", "content": "c", "tags": "python"},
        {"title": "t", "content": "c", "tags": ["x" * 31]},
        {"title": "t", "content": "c", "tags": [""]},
        {"title": "t", "content": "c", "likes_count": 1000},
        {"title": "t", "content": "c", "author_id": str(uuid.uuid4())},
        {"content": "c"},
    ],
)
async def test_invalid_posts_are_422(client, payload):
    alice = await make_user(client)
    r = await client.post("/api/v1/posts", headers=alice["headers"], json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_limits_are_inclusive_and_duplicate_tags_do_not_count(client):
    alice = await make_user(client)
    post = await make_post(client, alice, title="t" * 255, content="c" * 20_000, category="k" * 50,
                           tags=[f"T{i}" for i in range(10)] + [f"t{i}" for i in range(10)])
    assert len(post["tags"]) == 10 and post["tags"][0] == "t0"


async def test_anonymous_callers_read_but_do_not_write(client):
    alice = await make_user(client)
    post = await make_post(client, alice)
    assert (await client.post("/api/v1/posts", json={"title": "t", "content": "c"})).status_code == 401
    assert (await client.patch(f"/api/v1/posts/{post['id']}", json={"title": "x"})).status_code == 401
    assert (await client.delete(f"/api/v1/posts/{post['id']}")).status_code == 401
    assert (await client.get(f"/api/v1/posts/{post['id']}")).status_code == 200


async def test_drafts_exist_only_for_their_author(client):
    alice, bob = await make_user(client), await make_user(client)
    draft = await make_post(client, alice, is_published=False)
    url = f"/api/v1/posts/{draft['id']}"

    assert (await client.get(url, headers=alice["headers"])).json()["is_published"] is False
    for headers in ({}, bob["headers"]):
        assert (await client.get(url, headers=headers)).status_code == 404
        listed = (await client.get("/api/v1/posts", headers=headers)).json()["items"]
        assert listed == []
    # Others cannot even learn it exists by trying to change it.
    assert (await client.patch(url, headers=bob["headers"], json={"title": "mine"})).status_code == 404
    assert (await client.delete(url, headers=bob["headers"])).status_code == 404

    # The public list never shows drafts, not even to the author; drafts=true lists
    # the caller's own drafts and nobody else's.
    assert (await client.get("/api/v1/posts", headers=alice["headers"])).json()["items"] == []
    mine = (await client.get("/api/v1/posts?drafts=true", headers=alice["headers"])).json()["items"]
    assert [p["id"] for p in mine] == [draft["id"]]
    for headers in ({}, bob["headers"]):
        assert (await client.get("/api/v1/posts?drafts=true", headers=headers)).json()["items"] == []

    published = await client.patch(url, headers=alice["headers"], json={"is_published": True})
    assert published.status_code == 200 and published.json()["is_published"] is True
    assert (await client.get(url)).status_code == 200


async def test_only_the_author_edits_and_admins_may_delete(client, owner_conn):
    alice, bob, admin = await make_user(client), await make_user(client), await make_user(client)
    await _make_admin(owner_conn, admin)
    post = await make_post(client, alice, category="math", tags=["algebra"])
    url = f"/api/v1/posts/{post['id']}"

    for session in (bob, admin):
        r = await client.patch(url, headers=session["headers"], json={"title": "Hijacked"})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "not_post_author"
    r = await client.delete(url, headers=bob["headers"])
    assert r.status_code == 403

    r = await client.patch(url, headers=alice["headers"],
                           json={"title": "Better title", "category": None, "tags": None})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["category"], body["tags"]) == ("Better title", None, [])
    assert body["content"] == post["content"]
    assert body["updated_at"] > post["updated_at"] and body["created_at"] == post["created_at"]

    for payload in ({}, {"title": None}, {"content": None}, {"is_published": None},
                    {"likes_count": 5}, {"author_id": bob["user"]["id"]}, {"title": "x" * 256}):
        r = await client.patch(url, headers=alice["headers"], json=payload)
        assert r.status_code == 422, (payload, r.text)

    assert (await client.delete(url, headers=admin["headers"])).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url, headers=alice["headers"])).status_code == 404
    assert (await client.patch(f"/api/v1/posts/{uuid.uuid4()}", headers=alice["headers"],
                               json={"title": "x"})).status_code == 404


async def test_deleting_a_post_removes_its_comments_and_all_their_votes(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    post = await make_post(client, alice)
    comment = await make_comment(client, alice, post["id"])
    await make_comment(client, alice, post["id"], parent_id=comment["id"])
    assert (await client.put(f"/api/v1/posts/{post['id']}/vote", headers=bob["headers"],
                             json={"vote_type": "upvote"})).status_code == 200
    assert (await client.put(f"/api/v1/comments/{comment['id']}/vote", headers=bob["headers"],
                             json={"vote_type": "upvote"})).status_code == 200

    assert (await client.delete(f"/api/v1/posts/{post['id']}", headers=alice["headers"])).status_code == 204
    assert await owner_conn.fetchval("SELECT count(*) FROM comments") == 0
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 0


async def _pages(client, url: str, headers=None) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        sep = "&" if "?" in url else "?"
        r = await client.get(url + (f"{sep}cursor={cursor}" if cursor else ""), headers=headers or {})
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([p["id"] for p in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_list_new_pages_through_every_post_once(client, owner_conn):
    alice = await make_user(client)
    posts = [await make_post(client, alice) for _ in range(5)]
    # Two posts with the same created_at: the id breaks the tie, none is lost.
    await owner_conn.execute(
        "UPDATE posts SET created_at = (SELECT created_at FROM posts WHERE id = $1) WHERE id = $2",
        uuid.UUID(posts[1]["id"]), uuid.UUID(posts[2]["id"]))
    await make_post(client, alice, is_published=False)

    pages = await _pages(client, "/api/v1/posts?limit=2")
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [i for page in pages for i in page]
    expected = await owner_conn.fetch(
        "SELECT id FROM posts WHERE is_published ORDER BY created_at DESC, id DESC")
    assert seen == [str(r["id"]) for r in expected]
    assert sorted(seen) == sorted(p["id"] for p in posts)

    for bad in ("cursor=garbage", "limit=0", "limit=101", "sort=hot"):
        r = await client.get(f"/api/v1/posts?{bad}")
        assert r.status_code in (400, 422), (bad, r.text)
    top_cursor = (await client.get("/api/v1/posts?sort=top&limit=1")).json()["next_cursor"]
    assert (await client.get(f"/api/v1/posts?sort=new&cursor={top_cursor}")).status_code == 400
    # This list's own tag, but a number where the id goes: a 400 like any bad cursor.
    tag = hashlib.blake2b(b"/api/v1/posts", digest_size=4).hexdigest()
    forged = base64.urlsafe_b64encode(
        json.dumps([tag, "2026-01-01T00:00:00+00:00", 1]).encode()).rstrip(b"=").decode()
    r = await client.get(f"/api/v1/posts?cursor={forged}")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_cursor")


async def test_list_top_orders_by_score_then_newest(client):
    alice, bob, carol = await make_user(client), await make_user(client), await make_user(client)
    low, mid, high, zero_old, zero_new = [await make_post(client, alice) for _ in range(5)]
    votes = [(bob, high, "upvote"), (carol, high, "upvote"), (bob, mid, "upvote")]
    for voter, post, kind in votes:
        r = await client.put(f"/api/v1/posts/{post['id']}/vote", headers=voter["headers"],
                             json={"vote_type": kind})
        assert r.status_code == 200, r.text

    pages = await _pages(client, "/api/v1/posts?sort=top&limit=2", bob["headers"])
    order = [i for page in pages for i in page]
    assert order == [high["id"], mid["id"], zero_new["id"], zero_old["id"], low["id"]]

    items = (await client.get("/api/v1/posts?sort=top", headers=bob["headers"])).json()["items"]
    assert [(p["likes_count"], p["my_vote"]) for p in items] == [
        (2, "upvote"), (1, "upvote"), (0, None), (0, None), (0, None)]
    anon_items = (await client.get("/api/v1/posts?sort=top")).json()["items"]
    assert {p["my_vote"] for p in anon_items} == {None}


async def test_list_filters(client):
    alice = await make_user(client, username="alice")
    bob = await make_user(client, username="bob_b")
    a1 = await make_post(client, alice, category="math", tags=["algebra", "proofs"])
    a2 = await make_post(client, alice, category="cs", tags=["python", "c++"])
    b1 = await make_post(client, bob, category="math", tags=["Python"])

    async def ids(query: str) -> set[str]:
        r = await client.get(f"/api/v1/posts?{query}")
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()["items"]}

    assert await ids("category=math") == {a1["id"], b1["id"]}
    assert await ids("tag=PYTHON") == {a2["id"], b1["id"]}
    assert await ids("tag=C%2B%2B") == {a2["id"]}
    assert await ids("author=alice") == {a1["id"], a2["id"]}
    assert await ids("author=ALICE") == {a1["id"], a2["id"]}
    assert await ids(f"author={bob['user']['id']}") == {b1["id"]}
    assert await ids("author=nobody_at_all") == set()
    assert await ids("category=math&tag=python&author=bob_b") == {b1["id"]}
    assert await ids("category=math&sort=top&tag=proofs") == {a1["id"]}


async def test_list_and_read_run_a_fixed_number_of_queries(client, engine):
    alice, bob = await make_user(client), await make_user(client)

    async def list_queries() -> int:
        with count_queries(engine) as log:
            r = await client.get("/api/v1/posts?limit=50", headers=bob["headers"])
        assert r.status_code == 200
        return log.count

    await make_post(client, alice)
    few = await list_queries()
    for _ in range(6):
        post = await make_post(client, alice)
        await client.put(f"/api/v1/posts/{post['id']}/vote", headers=bob["headers"], json={"vote_type": "upvote"})
    assert await list_queries() == few == 2  # role switch + one SELECT

    with count_queries(engine) as log:
        assert (await client.get(f"/api/v1/posts/{post['id']}", headers=bob["headers"])).status_code == 200
    assert log.count == 2


async def test_a_cursor_belongs_to_the_list_that_made_it(client):
    alice = await make_user(client)
    post = await make_post(client, alice)
    for n in range(3):
        await make_post(client, alice, title=f"More {n}")
        await client.post(f"/api/v1/posts/{post['id']}/comments", headers=alice["headers"],
                          json={"content": f"Comment {n}"})
    posts_cursor = (await client.get("/api/v1/posts?limit=1")).json()["next_cursor"]
    comments_cursor = (await client.get(f"/api/v1/posts/{post['id']}/comments?limit=1")).json()[
        "next_cursor"]
    assert posts_cursor and comments_cursor
    # Each list takes its own cursor...
    assert (await client.get(f"/api/v1/posts?limit=1&cursor={posts_cursor}")).status_code == 200
    r = await client.get(f"/api/v1/posts/{post['id']}/comments?limit=1&cursor={comments_cursor}")
    assert r.status_code == 200
    # ...and refuses another's, even one of the same shape (time and id).
    r = await client.get(f"/api/v1/posts/{post['id']}/comments?cursor={posts_cursor}")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    r = await client.get(f"/api/v1/notifications?cursor={comments_cursor}", headers=alice["headers"])
    assert r.status_code == 400
    # An empty cursor is no cursor.
    assert (await client.get("/api/v1/posts?cursor=")).status_code == 200


async def test_the_author_filter_finds_a_username_that_reads_as_an_id(client):
    """A username may be 32 hex digits, which UUID() also reads as an id written without
    hyphens: ``author=`` with it lists that person's posts, and an id in its usual form
    still lists its owner's."""
    hexname = "0123456789abcdef0123456789abcdef"
    alice = await make_user(client, username=hexname)
    bob = await make_user(client, username=alice["user"]["id"].replace("-", ""))
    mine = await make_post(client, alice)
    theirs = await make_post(client, bob)
    for ref, post in ((hexname, mine), (hexname.upper(), mine), (alice["user"]["id"], mine),
                      (alice["user"]["id"].replace("-", ""), theirs),
                      (bob["user"]["id"], theirs)):
        r = await client.get("/api/v1/posts", params={"author": ref})
        assert r.status_code == 200, r.text
        assert [p["id"] for p in r.json()["items"]] == [post["id"]], ref


def _forged(path: str, *values: object) -> str:
    tag = hashlib.blake2b(path.encode(), digest_size=4).hexdigest()
    return base64.urlsafe_b64encode(json.dumps([tag, *values]).encode()).rstrip(b"=").decode()


async def test_a_cursor_score_beyond_what_a_counter_holds_is_an_invalid_cursor(client):
    """Scores are integer columns: a cursor of this list whose score no counter can hold is
    400 invalid_cursor like any other bad cursor (it was 422 from the database driver); one
    at the edge of the range is a position like any other."""
    alice = await make_user(client)
    await make_post(client, alice)
    when, anyone = "2026-01-01T00:00:00+00:00", str(uuid.uuid4())
    for score in (2**31, -(2**31) - 1, 2**62):
        r = await client.get("/api/v1/posts", params={
            "sort": "top", "cursor": _forged("/api/v1/posts", score, when, anyone)})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_cursor"), r.text
    r = await client.get("/api/v1/posts", params={
        "sort": "top", "cursor": _forged("/api/v1/posts", 2**31 - 1, when, anyone)})
    assert r.status_code == 200 and len(r.json()["items"]) == 1, r.text
