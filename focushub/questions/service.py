"""Questions: ask, edit, close/reopen, delete; read one with its answers; list views;
duplicate suggestions.

Who may do what is decided by the database: RLS policies (the author edits and
deletes, an admin deletes or closes/reopens any question) and
``check_question_update`` (only the author edits text; 'answered' only comes
from accepting an answer). When a write touches no row, one more query tells
"not there" (404) from "not yours" (403).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, NoReturn
from uuid import UUID

import orjson
from sqlalchemy.engine import RowMapping

from focushub.ai import service as ai_service
from focushub.answers.service import answer_page_from_json, answer_page_scope
from focushub.content.schemas import UserSummary
from focushub.content.sql import author_params
from focushub.core.db import Caller, Tx
from focushub.core.errors import Forbidden, NotFound, ValidationFailed, naming
from focushub.core.jsonsql import next_cursor, with_fields
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.core.security import anonymous_key
from focushub.questions import queries
from focushub.questions.schemas import (
    QuestionCreate,
    QuestionDetail,
    QuestionRead,
    QuestionSummary,
    QuestionUpdate,
    QuestionView,
    SimilarQuestion,
    SimilarQuestions,
    normalize_tag,
)
from focushub.safety import limits

# A question page embeds this many answers; the rest via GET /questions/{id}/answers.
DETAIL_ANSWERS = 50
# AI answers shown with a question, newest first (normally there is one).
DETAIL_AI_ANSWERS = 5
SIMILAR_LIMIT = 5

_NO_QUESTION = "There is no question with this id"


def anonymous_viewer_key(secret: str, client_address: str, day: date) -> str:
    """The view-counting key of an anonymous client on ``day``.

    A keyed hash (HMAC-SHA256 with the server's secret) of the address and the
    day: the database never holds an address, a key cannot be reversed by
    hashing every IPv4 address, and keys of different days are unrelated.
    """
    return anonymous_key(secret, "question-view", client_address, day)


def _question_fields(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "category": row["category"],
        "tags": list(row["tags"]),
        "status": row["status"],
        "votes_count": row["votes_count"],
        "answers_count": row["answers_count"],
        "views_count": row["views_count"],
        "has_accepted_answer": row["has_accepted_answer"],
        "author": UserSummary.from_row(row),
        "my_vote": row["my_vote"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _question_read(row: RowMapping) -> QuestionRead:
    return QuestionRead(content=row["content"], **_question_fields(row))


def _summary(row: RowMapping) -> QuestionSummary:
    return QuestionSummary(excerpt=row["excerpt"], **_question_fields(row))


# The lock request_ai_answer() takes before counting the caller's AI answers of the day.
_AI_REQUEST_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('ai-request:' || auth.uid()::text, 0))")
_AI_ANSWER_LEFT = (
    "SELECT count(*) < :limit FROM public.ai_answers WHERE requested_by = auth.uid()"
    " AND created_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')")


async def create_question(
    rt: Runtime, caller: Caller, data: QuestionCreate
) -> QuestionRead:
    """With ``FOCUSHUB_AI_AUTO_ANSWER`` an AI answer is asked for in the same transaction
    (within the asker's daily limit; over it, the question is still created)."""
    await limits.check_write(rt, caller, "question", text=data.content)
    async with rt.transaction(caller) as tx:
        row = await tx.one(
            queries.insert_question(caller),
            title=data.title,
            content=data.content,
            category=data.category,
            tags=data.tags,
        )
        if rt.settings.ai_auto_answer:
            # request_ai_answer() counts the asker's answers of the day under this lock (0016)
            # and refuses, failing the whole transaction, when none is left. Counted under
            # it here first, in a statement of its own (a snapshot taken after the lock), the
            # count is the one the function will make: questions asked together at the limit
            # are each created, with an AI answer for those the limit still allows.
            await tx.execute(_AI_REQUEST_LOCK)
            if await tx.scalar(_AI_ANSWER_LEFT, limit=rt.settings.ai_daily_limit):
                await ai_service.request_in(tx, rt, row["id"])
    return _question_read(row)


def _viewer_key(caller: Caller, client_address: str, view_key_secret: str) -> str | None:
    """Who counts as one viewer today: the signed-in user (None: the database knows them), or
    an anonymous client's keyed address of the day."""
    if caller.is_authenticated:
        return None
    return anonymous_viewer_key(view_key_secret, client_address, datetime.now(UTC).date())


async def get_question(
    rt: Runtime,
    caller: Caller,
    question_id: UUID,
    *,
    client_address: str,
    view_key_secret: str,
) -> QuestionDetail:
    """The question, its author, its first answers, its AI answers and the caller's
    votes, in a fixed number of queries whatever the number of answers.

    Also counts a view: once per viewer (signed-in user, or anonymous client
    address) per UTC day, before reading, so the count returned includes it.
    """
    viewer_key = _viewer_key(caller, client_address, view_key_secret)
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            queries.select_question_page(caller),
            id=question_id, viewer_key=viewer_key, ai_limit=DETAIL_AI_ANSWERS,
            min_confidence=rt.settings.ai_min_confidence_shown,
            question_id=question_id, limit=DETAIL_ANSWERS + 1,
        )
        if row is None:
            raise NotFound(_NO_QUESTION, code="question_not_found")
    answers, answers_next_cursor = answer_page_from_json(row["answers"], DETAIL_ANSWERS,
                                                              question_id)
    return QuestionDetail(
        content=row["content"],
        **_question_fields(row),
        answers=answers,
        answers_next_cursor=answers_next_cursor,
        ai_answers=[ai_service.read_answer(ai, rt.settings.ai_min_confidence_shown)
                    for ai in orjson.loads(row["ai_answers"])],
    )


async def get_question_json(
    rt: Runtime,
    caller: Caller,
    question_id: UUID,
    *,
    client_address: str,
    view_key_secret: str,
) -> bytes:
    """The body of :func:`get_question`'s ``QuestionDetail``, built by PostgreSQL (a hot
    read, for the API), in one statement; counts the view the same way."""
    viewer_key = _viewer_key(caller, client_address, view_key_secret)
    async with rt.direct_transaction(caller) as tx:
        row = await tx.one_or_none(
            queries.question_page_json(caller),
            id=question_id, viewer_key=viewer_key, ai_limit=DETAIL_AI_ANSWERS,
            min_confidence=rt.settings.ai_min_confidence_shown,
            question_id=question_id, limit=DETAIL_ANSWERS + 1, page_size=DETAIL_ANSWERS,
        )
        if row is None:
            raise NotFound(_NO_QUESTION, code="question_not_found")
    return with_fields(row["body"], answers_next_cursor=next_cursor(
        row, 4, answer_page_scope(question_id)))


async def list_questions(
    rt: Runtime,
    caller: Caller,
    *,
    view: QuestionView,
    tag: str | None,
    category: str | None,
    author: UUID | str | None,
    cursor: str | None,
    limit: int,
) -> Page[QuestionSummary]:
    """One page of ``view``: newest first; unanswered (open, no answer yet) newest
    first; or trending, by the stored trending score (see ``focushub/feed/service.py``)."""
    filters: list[str] = []
    params: dict[str, Any] = {"limit": limit + 1}
    if tag is not None:
        try:
            params["tag"] = normalize_tag(tag)
        except ValueError as exc:
            raise ValidationFailed(str(exc), details={"field": "tag"}) from None
        filters.append(queries.TAG_FILTER)
    if category is not None and category.strip():
        params["category"] = category.strip()
        filters.append(queries.CATEGORY_FILTER)
    if author is not None:
        # A user id, or a username (case-insensitive), as every list's ``author`` takes.
        params.update(author_params(author))
        filters.append(queries.AUTHOR_FILTER)

    if view == "trending":
        if cursor is not None:
            params["c_score"], params["c_id"] = decode_cursor(cursor, (float, UUID))

        def key(r: RowMapping) -> tuple[Any, ...]:
            return (r["score"], r["id"])
    else:
        if cursor is not None:
            params["c_created"], params["c_id"] = decode_cursor(cursor, (datetime, UUID))

        def key(r: RowMapping) -> tuple[Any, ...]:
            return (r["created_at"], r["id"])

    sql = queries.list_questions(
        caller, view=view, filters=filters, after_cursor=cursor is not None
    )
    async with rt.transaction(caller) as tx:
        rows = await tx.all(sql, **params)
    page, next_cursor = page_of(rows, limit, key)
    return Page[QuestionSummary](items=[_summary(r) for r in page], next_cursor=next_cursor)


async def similar_questions(rt: Runtime, caller: Caller, title: str) -> SimilarQuestions:
    """Up to five existing questions sharing words with ``title``, best match first."""
    async with rt.transaction(caller) as tx:
        rows = await tx.all(queries.SIMILAR_QUESTIONS, title=title, limit=SIMILAR_LIMIT)
    return SimilarQuestions(items=[SimilarQuestion.model_validate(dict(r)) for r in rows])


_EDITABLE = ("title", "content", "category", "tags")


async def update_question(
    rt: Runtime, caller: Caller, question_id: UUID, data: QuestionUpdate
) -> QuestionRead:
    changes = data.model_dump(include=data.model_fields_set)
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []  # no tags: an empty list, as a new question has
    assignments = ", ".join(
        "tags = CAST(:tags AS text[])" if col == "tags" else f"{col} = :{col}"
        for col in _EDITABLE
        if col in changes
    )
    # check_question_update (0003) refuses an administrator's edit of another's text.
    with naming(forbidden="not_question_author"):
        async with rt.transaction(caller) as tx:
            row = await tx.one_or_none(
                queries.update_question(caller, assignments), id=question_id, **changes
            )
            if row is None:
                await _explain_untouched(tx, question_id, "Only the author can edit a question")
            if "content" in changes:  # after the update: 404 and 403 first; undone if refused
                await limits.check_mentions(rt, tx, "question", changes["content"])
    return _question_read(row)


async def close_question(rt: Runtime, caller: Caller, question_id: UUID) -> QuestionRead:
    """Close (author or admin): no new answers, no acceptance changes. Idempotent."""
    return await _set_status(rt, caller, question_id, queries.CLOSE_ASSIGNMENT)


async def reopen_question(rt: Runtime, caller: Caller, question_id: UUID) -> QuestionRead:
    """Reopen a closed question (author or admin): 'open', or 'answered' when it has an
    accepted answer. Reopening a question that is not closed changes nothing."""
    return await _set_status(rt, caller, question_id, queries.REOPEN_ASSIGNMENT)


async def _set_status(
    rt: Runtime, caller: Caller, question_id: UUID, assignment: str
) -> QuestionRead:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(queries.update_question(caller, assignment), id=question_id)
        if row is None:
            await _explain_untouched(
                tx, question_id, "Only the author or an admin can close or reopen a question"
            )
    return _question_read(row)


async def delete_question(rt: Runtime, caller: Caller, question_id: UUID) -> None:
    """Delete (author, or any as admin); answers, AI answers, views and votes go with it."""
    async with rt.transaction(caller) as tx:
        deleted = await tx.scalar(queries.DELETE_QUESTION, id=question_id)
        if deleted is None:
            await _explain_untouched(
                tx, question_id, "Only the author or an admin can delete a question"
            )


async def _explain_untouched(tx: Tx, question_id: UUID, forbidden: str) -> NoReturn:
    """A write matched no row: 404 when the caller cannot see the question, else 403."""
    if await tx.scalar(queries.QUESTION_EXISTS, id=question_id):
        raise Forbidden(forbidden, code="not_question_author")
    raise NotFound(_NO_QUESTION, code="question_not_found")
