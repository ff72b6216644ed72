"""Answers: request bodies. ``AnswerRead`` is defined with the other Q&A read models in
``focushub.questions.schemas`` (a question's detail embeds its answers) and re-exported here."""

from __future__ import annotations

from pydantic import model_validator

from focushub.core.schemas import InputModel
from focushub.questions.schemas import AnswerRead, Content

__all__ = ["AnswerCreate", "AnswerRead", "AnswerUpdate"]


class AnswerCreate(InputModel):
    content: Content


class AnswerUpdate(InputModel):
    content: Content | None = None

    @model_validator(mode="after")
    def _content_given(self) -> AnswerUpdate:
        if self.content is None:
            raise ValueError("give the new content")
        return self
