"""The feed, posts and their comments, votes, deleting, accepting an answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from focushub.answers import service as answers_service
from focushub.comments import service as comments_service
from focushub.comments.schemas import CommentCreate, CommentListParams
from focushub.core.errors import AppError, Forbidden, NotFound
from focushub.core.pagination import MAX_LIMIT
from focushub.core.routing import Router
from focushub.feed import service as feed_service
from focushub.feed.schemas import FeedParams
from focushub.posts import service as posts_service
from focushub.posts.schemas import PostCreate, PostUpdate
from focushub.questions import service as questions_service
from focushub.votes import service as votes_service
from focushub.web import markdown
from focushub.web.kit import (
    PageDep,
    RtDep,
    Text,
    comment_texts,
    draft_refused,
    guard,
    holds,
    invalid,
    need_login,
    page_holding,
    redirect,
    refusal,
    render,
    safe_next,
    save_edit,
    save_new,
)

router = Router(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def feed(request: Request, page: PageDep, rt: RtDep,
               scope: Annotated[str, Query(pattern="^(following|latest|trending)$")] = "latest",
               cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    if scope == "following" and not page.signed_in:
        return redirect(request, page, "/login?next=%2F%3Fscope%3Dfollowing")
    result = await feed_service.get_feed(rt, page.caller, FeedParams(scope=scope, cursor=cursor))
    return render(request, page, "feed.html", scope=scope, items=result.items,
                  next_cursor=result.next_cursor)


@router.get("/posts/new", response_class=HTMLResponse)
async def new_post_page(request: Request, page: PageDep) -> Response:
    return need_login(request, page) or render(request, page, "post_new.html", form={})


@router.post("/posts/new", response_class=HTMLResponse)
async def new_post(request: Request, page: PageDep, rt: RtDep,
                   title: Text = "",
                   content: Text = "",
                   tags: Text = "",
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    return await save_new(
        request, page, "post_new.html", {"title": title, "content": content, "tags": tags},
        PostCreate, lambda data: posts_service.create_post(rt, page.caller, data),
        lambda post: f"/posts/{post.id}")


@router.get("/posts/{post_id}/edit", response_class=HTMLResponse)
async def edit_post_page(request: Request, page: PageDep, rt: RtDep, post_id: UUID) -> Response:
    """The author's form to change a post (403 for anyone else, said before they type)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    post = await posts_service.get_post(rt, page.caller, post_id)
    if post.author.id != page.caller.user_id:
        raise Forbidden("Only the author changes a post", code="not_post_author")
    return render(request, page, "post_new.html", editing=post, form={
        "title": post.title, "content": post.content, "tags": ", ".join(post.tags)})


@router.post("/posts/{post_id}/edit", response_class=HTMLResponse)
async def edit_post(request: Request, page: PageDep, rt: RtDep, post_id: UUID,
                    title: Text = "",
                    content: Text = "",
                    tags: Text = "",
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """Save the post's title, text and tags (the database refuses anyone but its author)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone

    async def save(data: PostUpdate) -> None:
        await posts_service.update_post(rt, page.caller, post_id, data)

    return await save_edit(request, page, "post_new.html", post_id, f"/posts/{post_id}",
                            {"title": title, "content": content, "tags": tags}, PostUpdate, save)


# How far a page looks for a comment or answer it was asked to show (``?comment=``,
# ``?answer=``), in pages of MAX_LIMIT: past that the first page is shown.
@router.get("/posts/{post_id}", response_class=HTMLResponse)
async def post_page(request: Request, page: PageDep, rt: RtDep, post_id: UUID,
                    cursor: Annotated[str | None, Query(max_length=500)] = None,
                    comment: UUID | None = None,
                    thread: UUID | None = None) -> Response:
    """The post and a page of its comments: the first, the one after ``cursor`` (the "Show
    more comments" link; htmx puts its comments in place), or the one showing ``comment``
    (where a new comment lands). A reply that no page of the post shows (under "more
    replies") is shown in its ``thread``, the replies of the comment it answers."""
    post = await posts_service.get_post(rt, page.caller, post_id)
    comments = await comments_service.list_post_comments(rt, page.caller, post_id,
                                                         CommentListParams(cursor=cursor))
    later = cursor is not None
    if comment is not None and cursor is None and not holds(comments.items, comment):
        # The page that begins with the comment's top-level comment, found by one query.
        start = await comments_service.cursor_to_comment(rt, page.caller, post_id, comment)
        if start is not None:
            comments = await comments_service.list_post_comments(
                rt, page.caller, post_id, CommentListParams(cursor=start))
            later = True
        if not holds(comments.items, comment) and thread is not None:
            # A reply deeper or later than the replies shown under its comment.
            return redirect(request, page, f"/posts/{post_id}/comments/{thread}"
                                           f"?comment={comment}#comment-{comment}")
    more = f"/posts/{post_id}?cursor={quote(comments.next_cursor, safe='')}" \
        if comments.next_cursor else None
    await markdown.prepare([post.content, *comment_texts(comments.items)])
    return render(request, page, "post.html", post=post, comments=comments.items,
                  more_comments=more, later=later)


@router.get("/posts/{post_id}/comments/{comment_id}", response_class=HTMLResponse)
async def comment_thread(request: Request, page: PageDep, rt: RtDep, post_id: UUID,
                         comment_id: UUID,
                         cursor: Annotated[str | None, Query(max_length=500)] = None,
                         comment: UUID | None = None) -> Response:
    """The replies to a comment, a page at a time (the "N more replies" link: a page of its
    own without JavaScript; with htmx, its replies replace the few shown under the
    comment). ``comment``: the page of replies showing that one."""
    post = await posts_service.get_post(rt, page.caller, post_id)
    replies = await comments_service.list_replies(rt, page.caller, comment_id,
                                                  CommentListParams(cursor=cursor))
    if replies.items and replies.items[0].post_id != post_id:
        raise NotFound("There is no such comment on this post", code="comment_not_found")
    if comment is not None and cursor is None and not holds(replies.items, comment):
        async def fetch(after: str) -> Any:
            return await comments_service.list_replies(
                rt, page.caller, comment_id, CommentListParams(cursor=after, limit=MAX_LIMIT))

        replies = await page_holding(comment, replies, fetch) or replies
    path = f"/posts/{post_id}/comments/{comment_id}"
    more = f"{path}?cursor={quote(replies.next_cursor, safe='')}" if replies.next_cursor else None
    await markdown.prepare(comment_texts(replies.items))
    return render(request, page, "comment_thread.html", post=post, parent_id=comment_id,
                  replies=replies.items, more_replies=more)


@router.post("/posts/{post_id}/comments")
async def comment(request: Request, page: PageDep, rt: RtDep, post_id: UUID,
                  content: Text = "",
                  parent_id: Annotated[UUID | None, Form()] = None,
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    """A comment, or a reply to ``parent_id``."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    reply = parent_id is not None
    try:
        data = CommentCreate(content=content, parent_id=parent_id)
    except ValidationError as exc:
        if not content.strip():  # said on the post page, above its comment form
            return redirect(request, page, f"/posts/{post_id}?error=empty-comment#comments")
        # Too long: given back whole, with the limit.
        return draft_refused(
            request, page, invalid(exc), action=f"/posts/{post_id}/comments",
            noun="reply" if reply else "comment", verb="posted",
            label="Your reply" if reply else "Your comment (Markdown)", content=content,
            back=f"/posts/{post_id}#comments",
            hidden={"parent_id": str(parent_id)} if reply else None)
    try:
        made = await comments_service.create_comment(rt, page.caller, post_id, data)
    except (AppError, DBAPIError) as exc:
        return draft_refused(
            request, page, refusal(exc, page), action=f"/posts/{post_id}/comments",
            noun="reply" if reply else "comment", verb="posted",
            label="Your reply" if reply else "Your comment (Markdown)", content=content,
            back=f"/posts/{post_id}#comments",
            hidden={"parent_id": str(parent_id)} if reply else None)
    # To the page of comments that shows it (a post's first page holds only the oldest).
    thread = f"&thread={parent_id}" if parent_id else ""
    return redirect(request, page, f"/posts/{post_id}?comment={made.id}{thread}#comment-{made.id}")


@router.post("/vote/{votable_type}/{votable_id}")
async def vote(request: Request, page: PageDep, rt: RtDep,
               votable_type: Annotated[str, Path(pattern="^(post|comment|question|answer)$")],
               votable_id: UUID,
               vote_type: Annotated[str, Form(pattern="^(upvote|downvote|none)$")],
               back: Annotated[str, Form(max_length=300)] = "/",
               csrf_token: Annotated[str, Form()] = "") -> Response:
    """Vote up or down, or withdraw (``none``), then back to the page it came from."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    if vote_type == "none":
        await votes_service.withdraw_vote(rt, page.caller, votable_type, votable_id)
    else:
        await votes_service.cast_vote(rt, page.caller, votable_type, votable_id, vote_type)
    return redirect(request, page, safe_next(back))


# What one may delete of one's own from the pages (the database also lets administrators),
# and the service call that does it.
DELETERS = {"post": posts_service.delete_post, "question": questions_service.delete_question,
            "comment": comments_service.delete_comment, "answer": answers_service.delete_answer}


@router.post("/delete/{kind}/{target_id}")
async def delete_content(request: Request, page: PageDep, rt: RtDep,
                         kind: Literal["post", "question", "comment", "answer"], target_id: UUID,
                         back: Annotated[str, Form(max_length=300)] = "/",
                         csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete a post, question, comment or answer (403 for what is not the caller's, 404
    for what they cannot see), then to ``back``, whose page says it is done."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await DELETERS[kind](rt, page.caller, target_id)
    return redirect(request, page, safe_next(back))


@router.post("/answers/{answer_id}/accept")
async def accept(request: Request, page: PageDep, rt: RtDep, answer_id: UUID,
                 question_id: Annotated[UUID, Form()],
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    """The asker accepts an answer (the database refuses anyone else: 403)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await answers_service.accept_answer(rt, page.caller, answer_id)
    return redirect(request, page,
                    f"/questions/{question_id}?answer={answer_id}#answer-{answer_id}")


