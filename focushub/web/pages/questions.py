"""Questions, their answers and AI answers."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from focushub.ai import service as ai_service
from focushub.ai.schemas import FeedbackUpdate
from focushub.answers import service as answers_service
from focushub.answers.schemas import AnswerCreate, AnswerRead
from focushub.core.deps import client_address
from focushub.core.errors import AppError, Forbidden
from focushub.core.pagination import MAX_LIMIT, Page
from focushub.core.routing import Router
from focushub.questions import service as questions_service
from focushub.questions.schemas import QuestionCreate, QuestionUpdate
from focushub.web import markdown
from focushub.web.kit import (
    PageDep,
    RtDep,
    Text,
    draft_refused,
    guard,
    invalid,
    need_login,
    page_holding,
    redirect,
    refusal,
    render,
    save_edit,
    save_new,
)

router = Router(include_in_schema=False)


@router.get("/questions", response_class=HTMLResponse)
async def questions_page(request: Request, page: PageDep, rt: RtDep,
                         view: Annotated[str, Query(pattern="^(newest|unanswered|trending)$")] = "newest",
                         tag: Annotated[str | None, Query(max_length=30)] = None,
                         cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    result = await questions_service.list_questions(
        rt, page.caller, view=view, tag=tag, category=None, author=None, cursor=cursor, limit=20)
    return render(request, page, "questions.html", view=view, tag=tag, items=result.items,
                  next_cursor=result.next_cursor)


@router.get("/questions/ask", response_class=HTMLResponse)
async def ask_page(request: Request, page: PageDep) -> Response:
    return need_login(request, page) or render(request, page, "ask.html", form={})


@router.get("/questions/similar", response_class=HTMLResponse)
async def similar(request: Request, page: PageDep, rt: RtDep,
                  title: Annotated[str, Query(max_length=255)] = "") -> Response:
    """The htmx fragment shown under the title while someone types a question."""
    found = (await questions_service.similar_questions(rt, page.caller, title)).items \
        if len(title.strip()) >= 3 else []
    return render(request, page, "_similar.html", similar=found)


@router.post("/questions/ask", response_class=HTMLResponse)
async def ask(request: Request, page: PageDep, rt: RtDep,
              title: Text = "",
              content: Text = "",
              tags: Text = "",
              csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    return await save_new(
        request, page, "ask.html", {"title": title, "content": content, "tags": tags},
        QuestionCreate, lambda data: questions_service.create_question(rt, page.caller, data),
        lambda question: f"/questions/{question.id}")


@router.get("/questions/{question_id}/edit", response_class=HTMLResponse)
async def edit_question_page(request: Request, page: PageDep, rt: RtDep,
                             question_id: UUID) -> Response:
    """The asker's form to change a question (403 for anyone else)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    question = await questions_service.get_question(
        rt, page.caller, question_id, client_address=client_address(request),
        view_key_secret=rt.jwt_secret)
    if question.author.id != page.caller.user_id:
        raise Forbidden("Only the asker changes a question", code="not_question_author")
    return render(request, page, "ask.html", editing=question, form={
        "title": question.title, "content": question.content, "tags": ", ".join(question.tags)})


@router.post("/questions/{question_id}/edit", response_class=HTMLResponse)
async def edit_question(request: Request, page: PageDep, rt: RtDep, question_id: UUID,
                        title: Text = "",
                        content: Text = "",
                        tags: Text = "",
                        csrf_token: Annotated[str, Form()] = "") -> Response:
    """Save the question's title, details and tags (the database refuses anyone but the
    asker and administrators)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone

    async def save(data: QuestionUpdate) -> None:
        await questions_service.update_question(rt, page.caller, question_id, data)

    return await save_edit(request, page, "ask.html", question_id, f"/questions/{question_id}",
                            {"title": title, "content": content, "tags": tags}, QuestionUpdate,
                            save)


@router.get("/questions/{question_id}", response_class=HTMLResponse)
async def question_page(request: Request, page: PageDep, rt: RtDep, question_id: UUID,
                        cursor: Annotated[str | None, Query(max_length=500)] = None,
                        answer: UUID | None = None) -> Response:
    """The question and a page of its answers: the first (with the question), the one after
    ``cursor`` (the "Show more answers" link; htmx puts them in place), or the one showing
    ``answer`` (where a new answer lands: answers are in score order)."""
    question = await questions_service.get_question(
        rt, page.caller, question_id,
        client_address=client_address(request),
        view_key_secret=rt.jwt_secret)
    first = Page[AnswerRead](items=question.answers, next_cursor=question.answers_next_cursor)
    answers = first
    if cursor is not None:
        answers = await answers_service.list_answers(rt, page.caller, question_id, cursor=cursor,
                                                     limit=questions_service.DETAIL_ANSWERS)
    elif answer is not None:
        async def fetch(after: str) -> Any:
            return await answers_service.list_answers(rt, page.caller, question_id,
                                                      cursor=after, limit=MAX_LIMIT)

        answers = await page_holding(answer, first, fetch) or first
    # The page object itself, not its list: Page copies the list it is given.
    later = answers is not first
    more = f"/questions/{question_id}?cursor={quote(answers.next_cursor, safe='')}" \
        if answers.next_cursor else None
    await markdown.prepare([question.content, *(a.content for a in answers.items),
                            *(ai.answer_text for ai in question.ai_answers)])
    return render(request, page, "question.html", q=question, answers=answers.items,
                  more_answers=more, later=later)


@router.post("/questions/{question_id}/answers")
async def answer(request: Request, page: PageDep, rt: RtDep, question_id: UUID,
                 content: Text = "",
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = AnswerCreate(content=content)
    except ValidationError as exc:
        if not content.strip():
            return redirect(request, page, f"/questions/{question_id}?error=empty-answer#answer")
        return draft_refused(request, page, invalid(exc),
                              action=f"/questions/{question_id}/answers", noun="answer",
                              verb="posted", label="Your answer (Markdown)", content=content,
                              back=f"/questions/{question_id}#answers")
    try:
        made = await answers_service.create_answer(rt, page.caller, question_id, data)
    except (AppError, DBAPIError) as exc:
        return draft_refused(request, page, refusal(exc, page),
                              action=f"/questions/{question_id}/answers", noun="answer",
                              verb="posted", label="Your answer (Markdown)", content=content,
                              back=f"/questions/{question_id}#answers")
    # To the page of answers that shows it (answers are in score order: not always the first).
    return redirect(request, page, f"/questions/{question_id}?answer={made.id}#answer-{made.id}")


@router.post("/questions/{question_id}/ai")
async def ask_ai(request: Request, page: PageDep, rt: RtDep, question_id: UUID,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await ai_service.request_answer(rt, page.caller, question_id)
    return redirect(request, page, f"/questions/{question_id}#ai-answers")


@router.post("/ai-answers/{answer_id}/rate")
async def rate_ai(request: Request, page: PageDep, rt: RtDep, answer_id: UUID,
                  rating: Annotated[int, Form(ge=1, le=5)],
                  question_id: Annotated[UUID, Form()],
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await ai_service.rate_answer(rt, page.caller, answer_id, FeedbackUpdate(rating=rating))
    return redirect(request, page, f"/questions/{question_id}#ai-{answer_id}")


