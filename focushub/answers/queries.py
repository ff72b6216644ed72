"""SQL of the answers domain.

Answers are shown accepted first, then by net votes (highest first), then oldest
first. The order key is written as ascending expressions,
``(NOT is_accepted, -votes_count, created_at, id)``, the columns of
``idx_answers_question_ranked``, so that a page after a cursor is a single row
comparison the index starts from.
"""

from __future__ import annotations

from focushub.content.sql import author_and_my_vote, author_join, author_json
from focushub.core.db import Caller
from focushub.core.jsonsql import json_page_sql, json_time


def order_key(alias: str) -> str:
    """The display order of answers as ascending expressions over ``alias``."""
    return f"(NOT {alias}.is_accepted), (- {alias}.votes_count), {alias}.created_at, {alias}.id"


ORDER_KEY = order_key("a")


def answer_columns(caller: Caller) -> str:
    """Columns of an answer (``a`` joined to its author ``u``): one ``AnswerRead``."""
    return (
        "a.id, a.question_id, a.content, a.is_accepted, a.votes_count, a.created_at, a.updated_at,"
        f" {author_and_my_vote(caller.is_authenticated, 'a', 'answer')}"
    )


def select_answer_page(caller: Caller, *, after_cursor: bool) -> str:
    after = (
        f" AND ({ORDER_KEY}) > (CAST(:c_unaccepted AS boolean), CAST(:c_neg_votes AS integer),"
        " CAST(:c_created AS timestamptz), CAST(:c_id AS uuid))"
        if after_cursor else ""
    )
    return (
        f"SELECT {answer_columns(caller)} FROM answers a {author_join('a')}"
        f" WHERE a.question_id = :question_id{after}"
        f" ORDER BY {ORDER_KEY} LIMIT :limit"
    )


def answer_page_json(caller: Caller) -> str:
    """The first page of select_answer_page as one JSON array (text), for embedding in
    another statement. Binds :question_id and :limit."""
    return (
        f"(SELECT coalesce(json_agg(pg ORDER BY {order_key('pg')}), '[]')"
        f" FROM ({select_answer_page(caller, after_cursor=False)}) pg)::text"
    )


def answer_json(alias: str) -> str:
    """One ``AnswerRead`` as JSON, over a row of :func:`answer_columns`."""
    r = alias
    return (
        f"json_build_object('id', {r}.id, 'question_id', {r}.question_id, 'content', {r}.content,"
        f" 'is_accepted', {r}.is_accepted, 'votes_count', {r}.votes_count,"
        f" 'author', {author_json(r)}, 'my_vote', {r}.my_vote,"
        f" 'created_at', {json_time(f'{r}.created_at')}, 'updated_at', {json_time(f'{r}.updated_at')})"
    )


# The cursor key of an answer, as answers.service._order_key makes it.
PAGE_KEYS = ("CASE WHEN r.is_accepted THEN 0 ELSE 1 END", "- r.votes_count", "r.created_at", "r.id")


def answer_page_json_sql(caller: Caller) -> str:
    """The first page of select_answer_page as ``core.jsonsql.json_page_sql`` (items, more
    and the four :data:`PAGE_KEYS` of the last item), for a hot read embedding it. Binds
    :question_id, :limit (the page plus one) and :page_size."""
    return json_page_sql(select_answer_page(caller, after_cursor=False), item=answer_json("r"),
                         order=order_key("r"), keys=PAGE_KEYS)


def select_answer(caller: Caller) -> str:
    return (
        f"SELECT {answer_columns(caller)} FROM answers a {author_join('a')}"
        " WHERE a.id = :id"
    )


def insert_answer(caller: Caller) -> str:
    # INSERT ... SELECT from questions: an unknown question inserts nothing (a clear
    # 404) instead of failing the foreign key. check_answer_question_open refuses
    # a closed question with 'conflict: ...'.
    return (
        "WITH a AS ("
        " INSERT INTO answers (question_id, author_id, content)"
        " SELECT q.id, auth.uid(), :content FROM questions q WHERE q.id = :question_id"
        " RETURNING *)"
        f" SELECT {answer_columns(caller)} FROM a {author_join('a')}"
    )


def update_answer(caller: Caller) -> str:
    return (
        "WITH a AS (UPDATE answers SET content = :content WHERE id = :id RETURNING *)"
        f" SELECT {answer_columns(caller)} FROM a {author_join('a')}"
    )


DELETE_ANSWER = "DELETE FROM answers WHERE id = :id RETURNING id"
ANSWER_EXISTS = "SELECT EXISTS (SELECT 1 FROM answers WHERE id = :id)"
QUESTION_EXISTS = "SELECT EXISTS (SELECT 1 FROM questions WHERE id = :id)"
ACCEPT = "SELECT public.accept_answer(:id)"
UNACCEPT = "SELECT public.unaccept_answer(:id)"
