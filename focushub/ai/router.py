"""AI answers: ``/api/v1/questions/{id}/ai-answers`` and ``/api/v1/ai-answers/{id}/feedback``."""

from __future__ import annotations

from uuid import UUID

from fastapi import status

from focushub.ai import service
from focushub.ai.schemas import AIAnswerRead, FeedbackUpdate, ModelStats
from focushub.core.deps import CallerDep, RuntimeDep, UserDep
from focushub.core.errors import ErrorRead
from focushub.core.routing import Router

router = Router(prefix="/api/v1", tags=["ai answers"])


@router.post("/questions/{question_id}/ai-answers", status_code=status.HTTP_202_ACCEPTED,
             response_model=AIAnswerRead,
             responses={429: {"model": ErrorRead,
                              "description": "Over the caller's rate (by standing) or the daily "
                                             "number of AI answers; see Retry-After"}})
async def request_answer(question_id: UUID, caller: UserDep, rt: RuntimeDep) -> AIAnswerRead:
    """Ask for an AI answer (any signed-in user). It is ``pending`` until made; the result
    arrives as ``ai_answer.ready`` on the asker's realtime channel, or poll the list."""
    return await service.request_answer(rt, caller, question_id)


@router.get("/questions/{question_id}/ai-answers", response_model=list[AIAnswerRead])
async def list_answers(question_id: UUID, caller: CallerDep, rt: RuntimeDep) -> list[AIAnswerRead]:
    """Shown ones first (completed and at least FOCUSHUB_AI_MIN_CONFIDENCE_SHOWN confident),
    then the collapsed ones, newest first within each."""
    return await service.list_answers(rt, caller, question_id)


@router.put("/ai-answers/{answer_id}/feedback", response_model=AIAnswerRead)
async def rate_answer(answer_id: UUID, data: FeedbackUpdate, caller: UserDep,
                      rt: RuntimeDep) -> AIAnswerRead:
    """The question's author rates a finished AI answer (completed or abstained) from 1 to 5.

    404 ``ai_answer_not_found``, 403 ``not_question_author``, 409 ``ai_answer_not_finished``
    (still being written, or it could not be made)."""
    return await service.rate_answer(rt, caller, answer_id, data)


@router.get("/ai-answers/stats", response_model=list[ModelStats],
            responses={403: {"model": ErrorRead, "description": "Not an administrator"}})
async def model_stats(caller: UserDep, rt: RuntimeDep) -> list[ModelStats]:
    """Per model: answers by outcome, the askers' ratings (count, mean), mean confidence."""
    return await service.model_stats(rt, caller)
