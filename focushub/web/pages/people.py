"""Search, profiles, followers and following, muting and blocking someone."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from focushub.core.errors import NotFound
from focushub.core.routing import Router
from focushub.core.runtime import Runtime
from focushub.follows import service as follows_service
from focushub.follows.schemas import FollowListParams
from focushub.posts import service as posts_service
from focushub.posts.schemas import PostListParams
from focushub.questions import service as questions_service
from focushub.safety import service as safety_service
from focushub.search import service as search_service
from focushub.search.schemas import SearchParams
from focushub.users import service as users_service
from focushub.web.kit import (
    PageDep,
    RtDep,
    form_errors,
    guard,
    is_htmx,
    redirect,
    render,
)
from focushub.web.session import PageSession

router = Router(include_in_schema=False)


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request, page: PageDep, rt: RtDep,
                      q: Annotated[str, Query(max_length=200)] = "",
                      type: Annotated[str, Query(pattern="^(post|question|resource|user|)$")] = "",
                      cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """Search; the form's first choice sends an empty ``type``: everything but people."""
    kind = type or None
    hits: list[Any] = []
    next_cursor = None
    if q.strip():
        try:
            params = SearchParams(q=q, type=kind, cursor=cursor)
        except ValidationError as exc:
            return render(request, page, "search.html", status=422, q=q, type=kind, hits=[],
                          errors=form_errors(exc))
        result = await search_service.search(rt, page.caller, params)
        hits, next_cursor = result.items, result.next_cursor
    return render(request, page, "search.html", q=q, type=kind, hits=hits, next_cursor=next_cursor)


PROFILE_LIST_SIZE = 10


@router.get("/u/{username}", response_class=HTMLResponse)
async def profile_page(request: Request, page: PageDep, rt: RtDep, username: str,
                       posts_cursor: Annotated[str | None, Query(max_length=500)] = None,
                       questions_cursor: Annotated[str | None, Query(max_length=500)] = None,
                       ) -> Response:
    """A person's profile with their posts and questions, newest first. Each list pages on
    by itself (``?posts_cursor=``, ``?questions_cursor=``); with htmx "Load more" puts the
    next items in place of the link."""
    user = await users_service.get_by_username(rt, page.caller, username)
    follow = await follows_service.get_state(rt, page.caller, user.id)
    posts = await posts_service.list_posts(rt, page.caller, PostListParams(
        author=str(user.id), cursor=posts_cursor, limit=PROFILE_LIST_SIZE))
    questions = await questions_service.list_questions(
        rt, page.caller, view="newest", tag=None, category=None, author=user.id,
        cursor=questions_cursor, limit=PROFILE_LIST_SIZE)
    muted = await _is_muted(rt, page, user.id)
    return render(request, page, "profile.html", user=user, follow=follow, posts=posts.items,
                  posts_next=posts.next_cursor, questions=questions.items,
                  questions_next=questions.next_cursor, muted=muted,
                  later_posts=posts_cursor is not None,
                  later_questions=questions_cursor is not None)


FOLLOW_LIST_SIZE = 50


async def _follow_list(request: Request, page: PageSession, rt: Runtime, username: str,
                       direction: Literal["followers", "following"], cursor: str | None,
                       hidden_cursor: str | None) -> Response:
    """A person's followers or the people they follow, as the API lists them (only people
    whose profile the caller may see). On one's own following list each has Unfollow, and
    the accounts one follows but may no longer see (deactivated) are listed apart, by no
    more than the date of the follow, each with Unfollow."""
    user = await users_service.get_by_username(rt, page.caller, username)
    listing = await follows_service.list_follows(
        rt, page.caller, user.id, direction, FollowListParams(cursor=cursor,
                                                              limit=FOLLOW_LIST_SIZE))
    mine = page.signed_in and page.caller.user_id == user.id and direction == "following"
    hidden = None
    if mine:
        hidden = await follows_service.list_hidden_following(
            rt, page.caller, FollowListParams(cursor=hidden_cursor, limit=FOLLOW_LIST_SIZE))
    return render(request, page, "follows.html", user=user, direction=direction,
                  listing=listing, mine=mine, hidden=hidden, later=cursor is not None,
                  removed=request.query_params.get("removed") == "1")


@router.get("/u/{username}/followers", response_class=HTMLResponse)
async def followers_page(request: Request, page: PageDep, rt: RtDep, username: str,
                         cursor: Annotated[str | None, Query(max_length=500)] = None,
                         ) -> Response:
    return await _follow_list(request, page, rt, username, "followers", cursor, None)


@router.get("/u/{username}/following", response_class=HTMLResponse)
async def following_page(request: Request, page: PageDep, rt: RtDep, username: str,
                         cursor: Annotated[str | None, Query(max_length=500)] = None,
                         hidden_cursor: Annotated[str | None, Query(max_length=500)] = None,
                         ) -> Response:
    return await _follow_list(request, page, rt, username, "following", cursor, hidden_cursor)


@router.post("/following/{user_id}/remove")
async def unfollow(request: Request, page: PageDep, rt: RtDep, user_id: UUID,
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    """Stop following ``user_id``, from one's following list: by id, since a deactivated
    account has no profile page. Its follow is removed all the same (the service then says
    404 as for nobody, as the API does), so that is not an error here."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    with contextlib.suppress(NotFound):
        await follows_service.unfollow(rt, page.caller, user_id)
    me = await users_service.get_me(rt, page.caller)
    return redirect(request, page, f"/u/{quote(me.username, safe='')}/following?removed=1")


async def _is_muted(rt: Runtime, page: PageSession, user_id: UUID) -> bool:
    """Whether the signed-in caller muted ``user_id`` (False for anyone else)."""
    if not page.signed_in or page.caller.user_id == user_id:
        return False
    return await safety_service.has(rt, page.caller, "mute", user_id)


@router.post("/u/{username}/follow")
async def toggle_follow(request: Request, page: PageDep, rt: RtDep, username: str,
                        following: Annotated[bool | None, Form()] = None,
                        csrf_token: Annotated[str, Form()] = "") -> Response:
    """Follow (``following=true``) or unfollow someone. The profile's form says which, so a
    second submit or a tab left open since does not undo the first; without it, the
    current state is turned over."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    user = await users_service.get_by_username(rt, page.caller, username)
    if following is None:
        following = not (await follows_service.get_state(rt, page.caller, user.id)).following
    if following:
        await follows_service.follow(rt, page.caller, user.id)
    else:
        await follows_service.unfollow(rt, page.caller, user.id)
    return redirect(request, page, f"/u/{user.username}")


@router.post("/u/{username}/mute", response_class=HTMLResponse)
async def toggle_mute(request: Request, page: PageDep, rt: RtDep, username: str,
                      muted: Annotated[bool, Form()],
                      csrf_token: Annotated[str, Form()] = "") -> Response:
    """Mute (``muted=true``) or unmute someone whose profile one sees; with htmx the
    profile's controls come back in their new state."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    user = await users_service.get_by_username(rt, page.caller, username)
    if muted:
        await safety_service.add(rt, page.caller, "mute", user.id)
    else:
        await safety_service.remove(rt, page.caller, "mute", user.id)
    if is_htmx(request):
        return render(request, page, "_safety_controls.html", user=user, muted=muted, done=True)
    return redirect(request, page, f"/u/{user.username}")


@router.post("/u/{username}/block")
async def block(request: Request, page: PageDep, rt: RtDep, username: str,
                csrf_token: Annotated[str, Form()] = "") -> Response:
    """Block someone. Their profile is gone for the blocker too from now on (a block hides
    both ways), so the blocker lands on the list where the block can be undone."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    user = await users_service.get_by_username(rt, page.caller, username)
    await safety_service.add(rt, page.caller, "block", user.id)
    return redirect(request, page, f"/settings/blocks?blocked={quote(user.username, safe='')}")


