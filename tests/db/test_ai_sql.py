"""AI answers' functions in SQL (0016): who may ask and rate, the daily limit, one pending."""

from __future__ import annotations

import asyncio
import json
import re

import asyncpg

from focushub.accounts.queries import LISTS
from focushub.ai import queries
from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    acting_as,
    as_user,
    expect_error,
    make_answer,
    make_post,
    make_question,
    make_resource,
    make_user,
    set_caller,
)


async def request(conn, question, limit=5):
    return await conn.fetchrow("SELECT * FROM public.request_ai_answer($1, $2)", question, limit)


async def test_asking_is_for_signed_in_users_and_marks_who_asked(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, alice)
    async with acting_as(app_conn, ANON):
        await expect_error(app_conn, ACCESS_DENIED,
                           "SELECT * FROM public.request_ai_answer($1, 5)", question)
    async with acting_as(app_conn, as_user(bob)):
        row = await request(app_conn, question)
        assert (row["status"], row["requested_by"], row["generation_attempts"]) == (
            "pending", bob, 0)
        assert (await request(app_conn, question))["id"] == row["id"]  # one pending at a time
        # The job's columns are not the asker's to write.
        await expect_error(app_conn, ACCESS_DENIED,
                           "UPDATE ai_answers SET status = 'completed', confidence_score = 1")


async def test_only_the_question_s_author_rates(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, alice)
    answer = await owner_conn.fetchval(
        "INSERT INTO ai_answers (question_id, answer_text) VALUES ($1, 'x') RETURNING id", question)
    rate = "SELECT * FROM public.rate_ai_answer($1, $2)"
    async with acting_as(app_conn, as_user(bob)):
        await expect_error(app_conn, RAISED, rate, answer, 5, message="forbidden:")
    async with acting_as(app_conn, as_user(alice)):
        await expect_error(app_conn, "23514", rate, answer, 0)
        assert (await app_conn.fetchrow(rate, answer, 4))["user_feedback_rating"] == 4


async def test_only_a_finished_answer_is_rated(app_conn, owner_conn):
    """0064: a pending or failed AI answer is no answer to rate (``conflict``); a completed
    or an abstaining one is. The asker and visibility checks come
    first, as before."""
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, alice)
    rate = "SELECT * FROM public.rate_ai_answer($1, $2)"
    for status, rated in (("pending", False), ("failed", False), ("completed", True),
                          ("abstained", True)):
        answer = await owner_conn.fetchval(
            "INSERT INTO ai_answers (question_id, answer_text, status) VALUES ($1, '', $2)"
            " RETURNING id", question, status)
        async with acting_as(app_conn, as_user(bob)):
            await expect_error(app_conn, RAISED, rate, answer, 5, message="forbidden:")
        async with acting_as(app_conn, as_user(alice)):
            if rated:
                assert (await app_conn.fetchrow(rate, answer, 3))["user_feedback_rating"] == 3
            else:
                await expect_error(app_conn, RAISED, rate, answer, 3, message="conflict:")
        await owner_conn.execute("DELETE FROM ai_answers WHERE id = $1", answer)


async def test_the_daily_limit_holds_under_concurrent_requests(test_db, owner_conn):
    alice = await make_user(owner_conn)
    questions = [await make_question(owner_conn, alice) for _ in range(6)]

    async def one(question) -> str:
        conn = await asyncpg.connect(test_db.app_url)
        try:
            async with conn.transaction():
                await set_caller(conn, as_user(alice))
                try:
                    await request(conn, question, limit=3)
                    return "ok"
                except asyncpg.RaiseError as exc:
                    assert str(exc).startswith("rate_limited:")
                    return "limited"
        finally:
            await conn.close()

    results = await asyncio.gather(*(one(q) for q in questions))
    assert sorted(results) == ["limited"] * 3 + ["ok"] * 3


async def test_asking_about_a_question_one_cannot_see_is_not_found(app_conn, owner_conn):
    """request_ai_answer() answers exactly as the caller's SELECT policies on questions do:
    a hidden question exists only for its author and admins, a blocked author's not at all."""
    alice, bob, carol = [await make_user(owner_conn) for _ in range(3)]
    admin = await make_user(owner_conn, role="admin")
    hidden = await make_question(owner_conn, alice)
    await owner_conn.execute("UPDATE questions SET hidden_at = now() WHERE id = $1", hidden)
    walled = await make_question(owner_conn, alice)
    await owner_conn.execute(
        "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)", alice, carol)
    cases = [(bob, hidden, False), (carol, hidden, False), (carol, walled, False),
             (bob, walled, True), (alice, hidden, True), (admin, hidden, True)]
    for who, question, visible in cases:
        async with acting_as(app_conn, as_user(who)):
            sees = await app_conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM questions WHERE id = $1)", question)
            assert sees is visible
            if visible:
                assert (await request(app_conn, question))["requested_by"] == who
            else:
                await expect_error(app_conn, RAISED,
                                   "SELECT * FROM public.request_ai_answer($1, 5)", question,
                                   message="not_found: no such question")
    assert await owner_conn.fetchval("SELECT count(*) FROM ai_answers") == 0


async def test_what_a_reader_sees_of_an_answers_sources(app_conn, owner_conn):
    """``ai.queries.COLUMNS``' ``sources``: the cited sources the reader can see, and how
    many of all the answer's sources (cited, or only given to the model: ``"cited": false``)
    they cannot. A snapshot written before uncited sources were kept counts each of its
    entries as cited."""
    carol, dave = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, carol)
    answer = await make_answer(owner_conn, question, carol)
    post = await make_post(owner_conn, carol)

    def entry(n: int, kind: str, id_: object, **more: object) -> dict[str, object]:
        return {"n": n, "type": kind, "id": str(id_), "title": "t", "url": "u", "quote": "q",
                **more}

    cited = entry(1, "answer", answer)
    uncited = {"n": 2, "type": "post", "id": str(post), "cited": False}
    insert = ("INSERT INTO ai_answers (question_id, answer_text, citations)"
              " VALUES ($1, 'x', $2::jsonb) RETURNING id")
    new = await owner_conn.fetchval(insert, question, json.dumps([cited, uncited]))
    old = await owner_conn.fetchval(insert, question, json.dumps([cited]))

    async def seen(who) -> dict[object, tuple[list[str], int]]:
        async with acting_as(app_conn, as_user(who)):
            rows = await app_conn.fetch(
                f"SELECT a.id, {queries.SOURCES_SEEN} AS s FROM ai_answers a"
                " WHERE a.question_id = $1", question)
        out = {}
        for r in rows:
            s = json.loads(r["s"])
            out[r["id"]] = ([c["id"] for c in s["citations"]], s["unavailable"])
        return out

    both = {new: ([str(answer)], 0), old: ([str(answer)], 0)}
    assert await seen(dave) == both
    await owner_conn.execute("UPDATE posts SET hidden_at = now() WHERE id = $1", post)
    assert await seen(dave) == {new: ([str(answer)], 1), old: ([str(answer)], 0)}
    assert await seen(carol) == both  # its author still sees it
    await owner_conn.execute("UPDATE answers SET hidden_at = now() WHERE id = $1", answer)
    assert await seen(dave) == {new: ([], 2), old: ([], 1)}


async def test_each_source_is_looked_up_by_its_key(app_conn, owner_conn):
    """The lookups of an answer's sources (``ai.queries``) find each source through its
    primary key, under the reader's policies, in the question page's hot read as in the
    asker's export and the job: never a scan of the whole table (each source's condition applied
    after the policies, row by row), nor a hash of every row the reader may see built for
    a handful of lookups. Seq scans are turned off here so that a small table's plan shows
    what the planner could do, as a large one's would."""
    carol, dave = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, carol)
    sources = [("answer", await make_answer(owner_conn, question, carol)),
               ("post", await make_post(owner_conn, carol)),
               ("resource", await make_resource(owner_conn, carol)),
               ("question", question)]
    snapshot = [{"n": n, "type": kind, "id": str(id_), "title": "t", "url": "u", "quote": "q"}
                for n, (kind, id_) in enumerate(sources[:3], 1)]
    snapshot.append({"n": 4, "type": "question", "id": str(question), "cited": False})
    ai = await owner_conn.fetchval("INSERT INTO ai_answers (question_id, answer_text, citations)"
                                   " VALUES ($1, 'x', $2::jsonb) RETURNING id",
                                   question, json.dumps(snapshot))
    statements = {
        "page": (f"SELECT {queries.SOURCES_SEEN} FROM ai_answers a WHERE a.id = $1", ai),
        "export": (LISTS["ai_answers_requested.json"],),
        "job": (queries.VISIBLE_SOURCES.replace(":sources", "$1"), json.dumps(snapshot)),
    }
    looked_up = {"answers", "posts", "resources", "questions"}

    def lookups(node: dict, hashed: bool = False) -> list[tuple[str, str, str, str, bool]]:
        """(table, node type, index, its condition, inside a hashed subplan) of each scan of a source's
        table under its lookup's alias (``s``), anywhere in the plan. The policies' own
        subqueries (a question's visibility, under other aliases) are not lookups: how
        PostgreSQL runs them is its choice by cost, here distorted by enable_seqscan."""
        hashed = hashed or "hashed" in node.get("Subplan Name", "")
        found = []
        if node.get("Relation Name") in looked_up and re.fullmatch(r"s(_\d+)?", node["Alias"]):
            found.append((node["Relation Name"], node["Node Type"], node.get("Index Name", ""),
                          node.get("Index Cond", ""), hashed))
        for child in node.get("Plans", []):
            found += lookups(child, hashed)
        return found

    async with acting_as(app_conn, as_user(dave)):
        await app_conn.execute("SET LOCAL enable_seqscan = off")
        for name, (sql, *args) in statements.items():
            plan = json.loads(await app_conn.fetchval(
                f"EXPLAIN (COSTS OFF, FORMAT JSON) {sql}", *args))[0]["Plan"]
            found = lookups(plan)
            assert {table for table, *_ in found} == looked_up, (name, found)
            for table, node_type, index, condition, hashed in found:
                assert node_type in ("Index Scan", "Index Only Scan"), (name, table, node_type)
                assert index == f"{table}_pkey" and not hashed, (name, table, index, hashed)
                assert condition.startswith("(id = "), (name, table, condition)  # a probe
        # And they say what the reader sees: every source.
        assert await app_conn.fetchval(statements["job"][0], statements["job"][1]) == 4


async def test_the_citations_column_says_it_holds_the_uncited_sources_too(owner_conn):
    """0065: a reader of the schema learns that the snapshot keeps the sources a model was
    given but did not cite, and why."""
    comment = await owner_conn.fetchval(
        "SELECT col_description('public.ai_answers'::regclass, a.attnum) FROM pg_attribute a"
        " WHERE a.attrelid = 'public.ai_answers'::regclass AND a.attname = 'citations'")
    assert '"cited": false' in comment and "not shown the text" in comment
