"""Answers: write, edit and delete your own; page through a question's answers; the
asker accepts one (or withdraws the acceptance).

Who may do what is decided by the database: RLS policies for edit/delete (own,
or any as admin for delete), ``check_answer_question_open`` for answering a
closed question, and the SECURITY DEFINER functions ``accept_answer`` /
``unaccept_answer`` for acceptance. When a write touches no row, one more query
tells "not there" (404) from "not yours" (403).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn
from uuid import UUID

import orjson
from sqlalchemy.engine import RowMapping

from focushub.answers import queries
from focushub.answers.schemas import AnswerCreate, AnswerRead, AnswerUpdate
from focushub.content.schemas import UserSummary
from focushub.core.db import Caller, Tx
from focushub.core.errors import BadRequest, Forbidden, NotFound, naming
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.safety import limits

_NO_ANSWER = "There is no answer with this id"
_NO_QUESTION = "There is no question with this id"
# What accept_answer() and unaccept_answer() (0006, 0046) raise, named as the API's own errors.
_ACCEPTANCE_CODES = {"not_found": "answer_not_found", "forbidden": "not_question_author"}
# What votes_count (an integer column) holds: a cursor's score outside it is no position.
_COUNTER = range(-(2**31), 2**31)


def answer_from_row(row: RowMapping) -> AnswerRead:
    return AnswerRead(
        id=row["id"],
        question_id=row["question_id"],
        content=row["content"],
        is_accepted=row["is_accepted"],
        votes_count=row["votes_count"],
        author=UserSummary.from_row(row),
        my_vote=row["my_vote"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _order_key(answer: AnswerRead) -> tuple[Any, ...]:
    return (0 if answer.is_accepted else 1, -answer.votes_count, answer.created_at, answer.id)


def answer_page_scope(question_id: UUID) -> str:
    """The cursor scope of a question's answers: one list whether its first page came
    embedded in the question or from /answers."""
    return f"answers:{question_id}"


_scope = answer_page_scope


def answer_page_from_json(text: str, limit: int,
                          question_id: UUID) -> tuple[list[AnswerRead], str | None]:
    """The page and next cursor from :func:`queries.answer_page_json` (``limit + 1`` rows)."""
    return page_of([answer_from_row(r) for r in orjson.loads(text)], limit, _order_key,
                   _scope(question_id))


async def fetch_answer_page(
    tx: Tx, question_id: UUID, *, cursor: str | None, limit: int
) -> tuple[list[AnswerRead], str | None]:
    """One page of a question's answers in display order, in one query.

    Votes move answers while a client pages; an answer whose score changed between
    two pages may then be skipped or shown twice, never anything worse.
    """
    params: dict[str, Any] = {"question_id": question_id, "limit": limit + 1}
    if cursor is not None:
        unaccepted, neg_votes, created_at, answer_id = decode_cursor(
            cursor, (int, int, datetime, UUID), _scope(question_id)
        )
        if neg_votes not in _COUNTER:  # -votes_count, an integer column
            raise BadRequest("The cursor is invalid", code="invalid_cursor")
        params.update(
            c_unaccepted=bool(unaccepted),
            c_neg_votes=neg_votes,
            c_created=created_at,
            c_id=answer_id,
        )
    rows = await tx.all(
        queries.select_answer_page(tx.caller, after_cursor=cursor is not None), **params
    )
    return page_of([answer_from_row(r) for r in rows], limit, _order_key, _scope(question_id))


async def list_answers(
    rt: Runtime, caller: Caller, question_id: UUID, *, cursor: str | None, limit: int
) -> Page[AnswerRead]:
    async with rt.transaction(caller) as tx:
        # An unknown question (or one the caller may not see) is 404, not an empty page.
        if not await tx.scalar(queries.QUESTION_EXISTS, id=question_id):
            raise NotFound(_NO_QUESTION, code="question_not_found")
        items, next_cursor = await fetch_answer_page(tx, question_id, cursor=cursor, limit=limit)
    return Page[AnswerRead](items=items, next_cursor=next_cursor)


async def create_answer(
    rt: Runtime, caller: Caller, question_id: UUID, data: AnswerCreate
) -> AnswerRead:
    await limits.check_write(rt, caller, "answer", text=data.content)
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            queries.insert_answer(caller), question_id=question_id, content=data.content
        )
    if row is None:
        raise NotFound(_NO_QUESTION, code="question_not_found")
    return answer_from_row(row)


async def update_answer(
    rt: Runtime, caller: Caller, answer_id: UUID, data: AnswerUpdate
) -> AnswerRead:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            queries.update_answer(caller), id=answer_id, content=data.content
        )
        if row is None:
            await _explain_untouched(tx, answer_id, "Only the author can edit an answer")
        # After the update, so 404 and 403 come first; a refusal undoes it.
        await limits.check_mentions(rt, tx, "answer", data.content)
    return answer_from_row(row)


async def delete_answer(rt: Runtime, caller: Caller, answer_id: UUID) -> None:
    """Deletes the answer; the answers_count trigger decrements the question (and
    reopens it when this was its accepted answer)."""
    async with rt.transaction(caller) as tx:
        deleted = await tx.scalar(queries.DELETE_ANSWER, id=answer_id)
        if deleted is None:
            await _explain_untouched(
                tx, answer_id, "Only the author or an admin can delete an answer"
            )


async def accept_answer(rt: Runtime, caller: Caller, answer_id: UUID) -> AnswerRead:
    """Accept ``answer_id`` for its question, replacing any previously accepted answer.

    Only the question's author; 404 for an answer the caller may not see (checked by
    accept_answer() itself, 0046); 409 on a closed question. Accepting the accepted
    answer again changes nothing.
    """
    with naming(**_ACCEPTANCE_CODES):
        async with rt.transaction(caller) as tx:
            await tx.execute(queries.ACCEPT, id=answer_id)
            row = await tx.one(queries.select_answer(caller), id=answer_id)
    return answer_from_row(row)


async def unaccept_answer(rt: Runtime, caller: Caller, answer_id: UUID) -> AnswerRead:
    """Withdraw the acceptance of ``answer_id``; the question is open again. A no-op
    when the answer is not the accepted one."""
    with naming(**_ACCEPTANCE_CODES):
        async with rt.transaction(caller) as tx:
            await tx.execute(queries.UNACCEPT, id=answer_id)
            row = await tx.one(queries.select_answer(caller), id=answer_id)
    return answer_from_row(row)


async def _explain_untouched(tx: Tx, answer_id: UUID, forbidden: str) -> NoReturn:
    """A write matched no row: 404 when the caller cannot see the answer, else 403."""
    if await tx.scalar(queries.ANSWER_EXISTS, id=answer_id):
        raise Forbidden(forbidden, code="not_answer_author")
    raise NotFound(_NO_ANSWER, code="answer_not_found")
