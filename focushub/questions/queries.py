"""SQL of the questions domain.

Every statement returns the columns its schema needs in one round trip: the
author and the caller's own vote (``focushub.content.sql``; the author read back
with ``UserSummary.from_row``) and the accepted flag. A question's page embeds
its first answers with ``focushub.answers.queries``. Fragments are constants;
values are always named parameters.
"""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID

from focushub.ai import queries as ai_queries
from focushub.answers.queries import answer_page_json, answer_page_json_sql
from focushub.content.sql import author_and_my_vote, author_filter, author_join, author_json
from focushub.core.db import ANONYMOUS, Caller
from focushub.core.jsonsql import json_time

_QUESTION_COMMON = (
    "q.id, q.title, q.category, coalesce(q.tags, '{{}}') AS tags, q.status::text AS status,"
    " q.votes_count, q.answers_count, {views} AS views_count, q.created_at, q.updated_at,"
    " EXISTS (SELECT 1 FROM answers acc WHERE acc.question_id = q.id AND acc.is_accepted)"
    " AS has_accepted_answer, {author_and_my_vote}"
)

EXCERPT_LENGTH = 300
# Statements depend on whether the caller is signed in, never on who they are.
_ANY_USER = UUID(int=0)


def _common_columns(caller: Caller, views: str) -> str:
    return _QUESTION_COMMON.format(
        views=views, author_and_my_vote=author_and_my_vote(caller.is_authenticated, "q", "question")
    )


def question_columns(caller: Caller, *, views: str = "q.views_count") -> str:
    """Columns of a full question (``q`` joined to its author ``u``)."""
    return "q.content, " + _common_columns(caller, views)


def summary_columns(caller: Caller) -> str:
    """Columns of a list item: an excerpt instead of the content."""
    return f"left(q.content, {EXCERPT_LENGTH}) AS excerpt, " + _common_columns(
        caller, "q.views_count"
    )


def insert_question(caller: Caller) -> str:
    return (
        "WITH q AS ("
        " INSERT INTO questions (author_id, title, content, category, tags)"
        " VALUES (auth.uid(), :title, :content, :category, CAST(:tags AS text[]))"
        " RETURNING *)"
        f" SELECT {question_columns(caller)} FROM q {author_join('q')}"
    )


def update_question(caller: Caller, assignments: str) -> str:
    """``assignments`` is built from a fixed list of column names, never from input."""
    return (
        f"WITH q AS (UPDATE questions SET {assignments} WHERE id = :id RETURNING *)"
        f" SELECT {question_columns(caller)} FROM q {author_join('q')}"
    )


CLOSE_ASSIGNMENT = "status = 'closed'"
# Reopening an open or answered question changes nothing, but still goes through
# the UPDATE so that the policies decide whether the caller may do it at all.
# check_question_update turns 'open' into 'answered' when an answer is accepted.
REOPEN_ASSIGNMENT = (
    "status = CASE WHEN status = 'closed' THEN 'open'::question_status ELSE status END"
)

DELETE_QUESTION = "DELETE FROM questions WHERE id = :id RETURNING id"

QUESTION_EXISTS = "SELECT EXISTS (SELECT 1 FROM questions WHERE id = :id)"

def select_question_page(caller: Caller) -> str:
    """The whole question page in one statement: the view is recorded, the question
    and its author read, its first page of answers and its newest AI answers
    aggregated as JSON (shown ones first, as ``ai.queries.ORDER``). Binds :id, :viewer_key,
    :ai_limit, :min_confidence, and :question_id
    (the same id) and :limit for the answer page.

    The view CTE runs first, but the outer SELECT reads the snapshot taken when the
    statement began, so the view just counted is added to ``views_count`` here.
    """
    return f"""
        WITH viewed AS (SELECT public.record_question_view(:id, :viewer_key) AS counted)
        SELECT {question_columns(caller, views="q.views_count + viewed.counted::int")},
               (SELECT coalesce(json_agg(ai ORDER BY ai.ord), '[]')
                FROM (SELECT {ai_queries.COLUMNS}, row_number() OVER (ORDER BY {ai_queries.ORDER}) AS ord
                      FROM ai_answers a WHERE a.question_id = q.id
                      ORDER BY {ai_queries.ORDER} LIMIT :ai_limit) ai
               )::text AS ai_answers,
               {answer_page_json(caller)} AS answers
        FROM viewed CROSS JOIN questions q {author_join('q')}
        WHERE q.id = :id
    """


def question_page_json(caller: Caller) -> str:
    return _question_page_json(caller.is_authenticated)


@lru_cache(maxsize=2)  # built once per kind of caller
def _question_page_json(authenticated: bool) -> str:
    """:func:`select_question_page` as a hot read (``focushub.core.jsonsql``): ``body``, the
    ``QuestionDetail`` built by PostgreSQL except ``answers_next_cursor``, and ``more`` and
    ``key_0``… of the answer page (``answers.queries.answer_page_json_sql``) to make it.
    Binds what :func:`select_question_page` binds, and :page_size (the answers shown)."""
    caller = Caller(role="authenticated", user_id=_ANY_USER) if authenticated else ANONYMOUS
    return f"""
        WITH viewed AS (SELECT public.record_question_view(:id, :viewer_key) AS counted)
        SELECT json_build_object(
                 'id', r.id, 'title', r.title, 'category', r.category, 'tags', r.tags,
                 'status', r.status, 'votes_count', r.votes_count,
                 'answers_count', r.answers_count, 'views_count', r.views_count,
                 'has_accepted_answer', r.has_accepted_answer, 'author', {author_json('r')},
                 'my_vote', r.my_vote, 'created_at', {json_time('r.created_at')},
                 'updated_at', {json_time('r.updated_at')}, 'content', r.content,
                 'answers', ap.items::json,
                 'ai_answers',
                 (SELECT coalesce(json_agg({ai_queries.answer_json('ai')} ORDER BY ai.ord), '[]')
                  FROM (SELECT {ai_queries.COLUMNS},
                               row_number() OVER (ORDER BY {ai_queries.ORDER}) AS ord
                        FROM ai_answers a WHERE a.question_id = r.id
                        ORDER BY {ai_queries.ORDER} LIMIT :ai_limit) ai)
               )::text AS body,
               ap.more, ap.key_0, ap.key_1, ap.key_2, ap.key_3
        FROM (SELECT {question_columns(caller, views="q.views_count + viewed.counted::int")}
              FROM viewed CROSS JOIN questions q {author_join('q')}
              WHERE q.id = :id) r
        CROSS JOIN LATERAL ({answer_page_json_sql(caller)}) ap
    """

# ---------------------------------------------------------------- lists

def list_questions(
    caller: Caller, *, view: str, filters: list[str], after_cursor: bool
) -> str:
    """A page of questions for ``view``: newest first, or by the stored
    ``trending_score`` (0010, described in ``focushub/feed/service.py``),
    each read in order from its index.

    ``filters`` are constant fragments (tag, category, author) with named
    parameters. The cursor binds :c_created (or :c_score for trending) and :c_id.
    """
    where = list(filters)
    if view == "unanswered":
        # Matches the partial index idx_questions_unanswered.
        where += ["q.answers_count = 0", "q.status = 'open'"]
    if view == "trending":
        key, bound = "q.trending_score", "CAST(:c_score AS float8)"
    else:
        key, bound = "q.created_at", "CAST(:c_created AS timestamptz)"
    if after_cursor:
        where.append(f"({key}, q.id) < ({bound}, CAST(:c_id AS uuid))")
    where_sql = f"WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT {summary_columns(caller)}, q.trending_score AS score"
        f" FROM questions q {author_join('q')}"
        f" {where_sql} ORDER BY {key} DESC, q.id DESC LIMIT :limit"
    )


TAG_FILTER = "q.tags @> ARRAY[CAST(:tag AS text)]"
CATEGORY_FILTER = "q.category = :category"
AUTHOR_FILTER = author_filter("q.author_id")

# Duplicate suggestions: any word of the title may match (OR), best first.
# plainto_tsquery joins the title's lexemes with ' & ' and quotes each lexeme,
# and a lexeme never contains a space, so turning every ' & ' into ' | ' is an
# exact rewrite to OR. The cast back to tsquery does not re-normalise lexemes.
SIMILAR_QUESTIONS = """
WITH query AS (
    SELECT replace(plainto_tsquery('english', :title)::text, ' & ', ' | ')::tsquery AS tsq
)
SELECT q.id, q.title, q.status::text AS status, q.answers_count,
       EXISTS (SELECT 1 FROM answers acc WHERE acc.question_id = q.id AND acc.is_accepted)
           AS has_accepted_answer
FROM questions q, query
WHERE q.search_vector @@ query.tsq
ORDER BY ts_rank_cd(q.search_vector, query.tsq) DESC, q.answers_count DESC, q.created_at DESC, q.id
LIMIT :limit
"""
