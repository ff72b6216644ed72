"""Search through HTTP: ranking, snippets, visibility under RLS, filters, users, refusals."""

from __future__ import annotations

from focushub.core import observability
from focushub.search import service as search_service
from focushub.search.schemas import SearchParams
from tests.api.conftest import make_user
from tests.api.factories_social import caller_of, make_post, make_question, make_resource, user_id
from tests.querycount import count_queries


async def _search(client, headers=None, **params):
    r = await client.get("/api/v1/search", params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()


async def test_title_matches_rank_above_body_matches_and_stuffing(client, engine):
    alice = await make_user(client)
    titled = await make_post(engine, alice, title="Understanding Rust ownership", content="Notes from a course.")
    stuffed = await make_post(engine, alice, title="Misc", content="rust " * 500)
    in_body = await make_question(engine, alice, title="Borrowing trouble",
                                  content="Why are <b>Rust</b> lifetimes so hard?")
    await make_post(engine, alice, title="Unrelated", content="Nothing to see")

    body = await _search(client, q="rust")
    ids = [hit["id"] for hit in body["items"]]
    assert ids[0] == str(titled)
    assert set(ids) == {str(titled), str(stuffed), str(in_body)}
    ranks = [hit["rank"] for hit in body["items"]]
    assert ranks == sorted(ranks, reverse=True)
    assert ranks[0] > 1 > ranks[1]

    hit = next(h for h in body["items"] if h["id"] == str(in_body))
    assert hit["type"] == "question"
    # Markers are plain characters; ts_headline drops markup tags from snippets.
    assert "«Rust»" in hit["snippet"] and "<" not in hit["snippet"]
    assert hit["author"]["username"] == alice["user"]["username"]

    # Phrases and exclusions of websearch syntax.
    assert [h["id"] for h in (await _search(client, q='"rust ownership"'))["items"]] == [str(titled)]
    excluding = await _search(client, q="rust -lifetimes -ownership")
    assert [h["id"] for h in excluding["items"]] == [str(stuffed)]


async def test_others_drafts_and_private_resources_never_match(client, engine):
    alice = await make_user(client)
    bob = await make_user(client)
    public_post = await make_post(engine, bob, title="Graph algorithms", content="BFS and DFS")
    draft = await make_post(engine, bob, title="Graph draft", content="unfinished", published=False)
    public_res = await make_resource(engine, bob, title="Graph cheat sheet", public=True)
    private_res = await make_resource(engine, bob, title="Graph private notes", public=False)

    for headers in ({}, alice["headers"]):
        ids = {h["id"] for h in (await _search(client, headers, q="graph"))["items"]}
        assert ids == {str(public_post), str(public_res)}
    ids = {h["id"] for h in (await _search(client, bob["headers"], q="graph"))["items"]}
    assert ids == {str(public_post), str(draft), str(public_res), str(private_res)}

    resources = await _search(client, q="graph", type="resource")
    assert [(h["type"], h["id"]) for h in resources["items"]] == [("resource", str(public_res))]


async def test_filters_and_pagination(client, engine):
    alice = await make_user(client)
    made = set()
    for n in range(5):
        made.add(str(await make_post(engine, alice, title=f"Python tip {n}", content="python " * (n + 1),
                                     category="programming" if n % 2 else "misc", tags=["python", f"t{n}"])))
    await make_question(engine, alice, title="Python question", content="Why?", category="programming",
                        tags=["python"])

    seen, ranks, cursor = [], [], None
    while True:
        params = {"q": "python", "type": "post", "limit": 2} | ({"cursor": cursor} if cursor else {})
        with count_queries(engine) as log:
            body = await _search(client, **params)
        assert log.count == 2
        seen += [h["id"] for h in body["items"]]
        ranks += [h["rank"] for h in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert ranks == sorted(ranks, reverse=True)

    programming = await _search(client, q="python", category="programming")
    assert {h["type"] for h in programming["items"]} == {"post", "question"}
    assert len(programming["items"]) == 3
    tagged = await _search(client, q="python", tag=" T3 ")
    assert [h["title"] for h in tagged["items"]] == ["Python tip 3"]


async def test_user_search_by_username_prefix_and_name_words(client, owner_conn):
    await make_user(client, username="grace", full_name="Grace Hopper")
    await make_user(client, username="gracelyn", full_name="Lyn Smith")
    await make_user(client, username="hopper_fan", full_name="Alan Turing")
    banned = await make_user(client, username="grace_banned", full_name="Grace Banned")
    await owner_conn.execute("UPDATE users SET is_active = false WHERE id = $1", user_id(banned))

    body = await _search(client, q="Grace", type="user")
    assert [(h["username"], h["rank"]) for h in body["items"]] == [("grace", 3.0), ("gracelyn", 2.0)]
    assert set(body["items"][0]) == {"type", "id", "username", "full_name", "avatar_url", "rank"}

    names = await _search(client, q="hopp", type="user")
    assert [h["username"] for h in names["items"]] == ["hopper_fan", "grace"]
    assert [h["username"] for h in (await _search(client, q="grace hop", type="user"))["items"]] == ["grace"]

    # LIKE wildcards are literal characters.
    assert (await _search(client, q="%", type="user"))["items"] == []
    assert (await _search(client, q="_", type="user"))["items"] == []
    assert (await _search(client, q="gr_ce", type="user"))["items"] == []
    assert [h["username"] for h in (await _search(client, q="hopper_f", type="user"))["items"]] == ["hopper_fan"]

    page1 = await _search(client, q="gr", type="user", limit=1)
    page2 = await _search(client, q="gr", type="user", limit=1, cursor=page1["next_cursor"])
    assert [h["username"] for h in page1["items"] + page2["items"]] == ["grace", "gracelyn"]
    assert page2["next_cursor"] is None


async def test_refusals(client):
    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}, {"q": "a", "type": "chat"},
                   {"q": "a", "type": "user", "category": "misc"}, {"q": "a", "type": "user", "tag": "x"},
                   {"q": "a", "limit": 101}, {"q": "a", "tag": "x" * 31}):
        r = await client.get("/api/v1/search", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    assert (await client.get("/api/v1/search", params={"q": "x" * 200})).status_code == 200
    # Only stop words or punctuation: a valid query that matches nothing.
    assert (await _search(client, q="the"))["items"] == []
    assert (await _search(client, q="!!! &&& |", type="user"))["items"] == []
    r = await client.get("/api/v1/search", params={"q": "a", "cursor": "bm9wZQ"})
    assert r.status_code == 400


async def _all_pages(client, headers, **params):
    """Every hit of a search, page by page, and the number of pages."""
    ids, cursor, pages = [], None, 0
    while True:
        body = await _search(client, headers, **params, **({"cursor": cursor} if cursor else {}))
        ids += [h["id"] for h in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None or pages > 20:
            return ids, pages


async def test_matches_the_caller_may_not_see_do_not_cut_the_pages_short(client, engine, owner_conn):
    # The best matches are hidden by a moderator or written by someone the reader blocked:
    # the visible ones below them must still come, page after page.
    reader, troll, spammer, friend = [await make_user(client) for _ in range(4)]
    r = await client.put(f"/api/v1/users/{troll['user']['id']}/block", headers=reader["headers"])
    assert r.status_code == 204, r.text
    stuffed = "kotlin " * 20
    blocked = [await make_post(engine, troll, title="Kotlin kotlin", content=stuffed) for _ in range(3)]
    hidden = [await make_post(engine, spammer, title="Kotlin kotlin", content=stuffed) for _ in range(3)]
    for post in hidden:
        await owner_conn.execute("UPDATE posts SET hidden_at = now() WHERE id = $1", post)
    visible = [await make_post(engine, friend, title="Kotlin", content=f"Plain notes {n}")
               for n in range(2)]
    visible += [await make_question(engine, friend, title=f"Kotlin question {n}", content="Why?")
                for n in range(2)]
    # The ones the reader may not see rank first (as a bystander sees them).
    bystander = await _search(client, friend["headers"], q="kotlin", type="post", limit=10)
    assert {h["id"] for h in bystander["items"][:3]} == {str(p) for p in blocked}

    for params in ({"q": "kotlin", "limit": 2}, {"q": "kotlin", "type": "post", "limit": 1}):
        ids, _ = await _all_pages(client, reader["headers"], **params)
        expected = visible if "type" not in params else visible[:2]
        assert sorted(ids) == sorted(str(v) for v in expected), params
        assert not {str(p) for p in blocked + hidden} & set(ids)
    # The web pages' object path pages the same way.
    rt = client._transport.app.state.runtime
    token = observability.request_path.set("/api/v1/search")
    try:
        cursor, ids = None, []
        for _ in range(10):
            page = await search_service.search(rt, caller_of(reader), SearchParams(
                q="kotlin", limit=2, cursor=cursor))
            api = await _search(client, reader["headers"], q="kotlin", limit=2,
                                **({"cursor": cursor} if cursor else {}))
            assert [str(h.id) for h in page.items] == [h["id"] for h in api["items"]]
            assert page.next_cursor == api["next_cursor"]
            ids += [str(h.id) for h in page.items]
            if (cursor := page.next_cursor) is None:
                break
        assert sorted(ids) == sorted(str(v) for v in visible)
    finally:
        observability.request_path.reset(token)
    # The spammer still finds their own hidden posts; the troll does not find the reader's.
    ids, _ = await _all_pages(client, spammer["headers"], q="kotlin", type="post", limit=2)
    assert set(ids) == {str(p) for p in hidden + blocked + visible[:2]}


async def test_guillemets_in_the_text_are_not_taken_for_matches(client, engine):
    # French quotes are « »: in a snippet they would read as matches (the API's markers, and
    # <mark> on the search page), and a lone » closed a mark that was never opened.
    alice = await make_user(client)
    await make_post(engine, alice, title="Notes de cours",
                    content="Le prof a dit «bonjour» puis » seul, et parle de python.")
    [hit] = (await _search(client, q="python"))["items"]
    snippet = hit["snippet"]
    assert snippet.count("«") == snippet.count("»") == 1, snippet
    assert "«python»" in snippet and "bonjour" in snippet
    page = await client.get("/search", params={"q": "python"})
    assert page.status_code == 200
    assert page.text.count("<mark>") == page.text.count("</mark>") == 1
