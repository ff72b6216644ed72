"""HTTP for answers: under their question to list and write, by id to edit, delete, accept."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, status

from focushub.answers import service
from focushub.answers.schemas import AnswerCreate, AnswerRead, AnswerUpdate
from focushub.core.deps import CallerDep, RuntimeDep, UserDep
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorQuery, Page
from focushub.core.routing import Router

router = Router(prefix="/api/v1", tags=["answers"])


@router.get("/questions/{question_id}/answers", response_model=Page[AnswerRead])
async def list_answers(
    question_id: UUID,
    caller: CallerDep,
    rt: RuntimeDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AnswerRead]:
    """Accepted first, then by net votes, then oldest first. 404 `question_not_found`."""
    return await service.list_answers(rt, caller, question_id, cursor=cursor, limit=limit)


@router.post(
    "/questions/{question_id}/answers",
    status_code=status.HTTP_201_CREATED,
    response_model=AnswerRead,
)
async def create_answer(
    question_id: UUID, data: AnswerCreate, caller: UserDep, rt: RuntimeDep
) -> AnswerRead:
    """409 when the question is closed; 404 `question_not_found`."""
    return await service.create_answer(rt, caller, question_id, data)


@router.patch("/answers/{answer_id}", response_model=AnswerRead)
async def update_answer(
    answer_id: UUID, data: AnswerUpdate, caller: UserDep, rt: RuntimeDep
) -> AnswerRead:
    """Only the author: 403 `not_answer_author`; 404 `answer_not_found`."""
    return await service.update_answer(rt, caller, answer_id, data)


@router.delete("/answers/{answer_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_answer(answer_id: UUID, caller: UserDep, rt: RuntimeDep) -> None:
    """The author or an admin: 403 `not_answer_author`; 404 `answer_not_found`."""
    await service.delete_answer(rt, caller, answer_id)


@router.post("/answers/{answer_id}/accept", response_model=AnswerRead)
async def accept_answer(answer_id: UUID, caller: UserDep, rt: RuntimeDep) -> AnswerRead:
    """Only the question's author (403 `not_question_author`); replaces a previously accepted
    answer; 409 when closed; 404 `answer_not_found`."""
    return await service.accept_answer(rt, caller, answer_id)


@router.delete("/answers/{answer_id}/accept", response_model=AnswerRead)
async def unaccept_answer(answer_id: UUID, caller: UserDep, rt: RuntimeDep) -> AnswerRead:
    """Withdraw the acceptance; the question is open again. Only the question's author (403
    `not_question_author`); 409 when closed; 404 `answer_not_found`."""
    return await service.unaccept_answer(rt, caller, answer_id)
