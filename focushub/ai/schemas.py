"""AI answers on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, StrictInt

from focushub.core.schemas import InputModel, OutputModel

AIStatus = Literal["pending", "completed", "abstained", "failed"]


class Citation(OutputModel):
    n: int = Field(description="The number the answer cites it by: [n]")
    type: Literal["answer", "post", "resource", "question"]
    id: UUID
    title: str
    url: str
    quote: str = Field(description="What of it the answer rests on")


class AIAnswerRead(OutputModel):
    id: UUID
    question_id: UUID
    status: AIStatus = Field(description="pending until the job ends it; abstained: nothing on "
                                         "the platform was relevant enough to cite")
    answer_text: str = Field(description="Markdown (never HTML); cites sources as [n]. Empty "
                                         "when sources_unavailable is above 0")
    sources_unavailable: int = Field(
        default=0, description="Sources the answer was made from (cited, or only given to "
                               "the model) that the reader can no longer see (deleted, "
                               "hidden by a moderator, made private, behind a block). Its "
                               "text may quote them, so it is withheld")
    citations: list[Citation]
    model_used: str | None
    confidence_score: float | None = Field(description="relevance × completeness, never above "
                                                       "either (docs/architecture.md)")
    relevance_score: float | None
    completeness_score: float | None
    tokens_used: int | None
    processing_time_ms: int | None
    generation_attempts: int
    user_feedback_rating: int | None
    collapsed: bool = Field(default=False, description="Below the shown-confidence threshold: "
                                                       "listed last, shown folded")
    created_at: datetime
    completed_at: datetime | None


class FeedbackUpdate(InputModel):
    rating: StrictInt = Field(ge=1, le=5,
                              description="1 (wrong or useless) to 5 (exactly right)")


class ModelStats(OutputModel):
    model_used: str | None
    answers: int
    completed: int
    abstained: int
    failed: int
    ratings: int = Field(description="Answers the asker rated")
    average_rating: float | None = Field(description="Mean of the 1–5 ratings")
    average_confidence: float | None = Field(description="Mean confidence of completed answers")
