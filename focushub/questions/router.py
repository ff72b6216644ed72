"""HTTP for questions. Fixed paths (``/similar``) come before ``/{question_id}``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Request, status

from focushub.core.deps import CallerDep, RuntimeDep, UserDep, client_address
from focushub.core.jsonsql import JSONBytes
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorQuery, Page
from focushub.core.routing import Router
from focushub.questions import service
from focushub.questions.schemas import (
    QuestionCreate,
    QuestionDetail,
    QuestionRead,
    QuestionSummary,
    QuestionUpdate,
    QuestionView,
    SimilarQuestions,
)

router = Router(prefix="/api/v1/questions", tags=["questions"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get("", response_model=Page[QuestionSummary])
async def list_questions(
    caller: CallerDep,
    rt: RuntimeDep,
    view: QuestionView = "newest",
    tag: Annotated[str | None, Query(max_length=30)] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    author: Annotated[str | None, Query(min_length=1, max_length=50,
                                        description="Only questions by this user (id or username)")] = None,
    cursor: CursorQuery = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[QuestionSummary]:
    """``newest``: newest first. ``unanswered``: open questions without any answer,
    newest first. ``trending``: by round(sign(s)·log10(max(|s|, 1)), 1) + seconds since
    2025-01-01 / 72000 with s = votes + 2 × answers (a tenfold of activity is
    worth 20 hours of recency)."""
    return await service.list_questions(
        rt,
        caller,
        view=view,
        tag=tag,
        category=category,
        author=author,
        cursor=cursor,
        limit=limit,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=QuestionRead)
async def create_question(data: QuestionCreate, caller: UserDep, rt: RuntimeDep) -> QuestionRead:
    return await service.create_question(rt, caller, data)


@router.get("/similar", response_model=SimilarQuestions)
async def similar_questions(
    title: Annotated[str, Query(min_length=3, max_length=255)], caller: CallerDep, rt: RuntimeDep
) -> SimilarQuestions:
    """Existing questions that may already answer a question being written."""
    return await service.similar_questions(rt, caller, title)


@router.get("/{question_id}", response_model=QuestionDetail)
async def read_question(
    question_id: UUID, caller: CallerDep, rt: RuntimeDep, request: Request
) -> JSONBytes:
    """Counts a view (once per viewer per day). 404 `question_not_found`."""
    return JSONBytes(await service.get_question_json(
        rt,
        caller,
        question_id,
        client_address=client_address(request),
        view_key_secret=rt.jwt_secret,
    ))


@router.patch("/{question_id}", response_model=QuestionRead)
async def update_question(
    question_id: UUID, data: QuestionUpdate, caller: UserDep, rt: RuntimeDep
) -> QuestionRead:
    """Only the author (not even an admin): 403 `not_question_author`; 404
    `question_not_found`."""
    return await service.update_question(rt, caller, question_id, data)


@router.delete("/{question_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_question(question_id: UUID, caller: UserDep, rt: RuntimeDep) -> None:
    """The author or an admin: 403 `not_question_author`; 404 `question_not_found`."""
    await service.delete_question(rt, caller, question_id)


@router.post("/{question_id}/close", response_model=QuestionRead)
async def close_question(question_id: UUID, caller: UserDep, rt: RuntimeDep) -> QuestionRead:
    """The author or an admin: 403 `not_question_author`; 404 `question_not_found`."""
    return await service.close_question(rt, caller, question_id)


@router.post("/{question_id}/reopen", response_model=QuestionRead)
async def reopen_question(question_id: UUID, caller: UserDep, rt: RuntimeDep) -> QuestionRead:
    """The author or an admin: 403 `not_question_author`; 404 `question_not_found`."""
    return await service.reopen_question(rt, caller, question_id)
