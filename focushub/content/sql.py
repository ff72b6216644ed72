"""The SQL every statement that shows someone's writing shares: its author and the
caller's own vote on it.

Posts, comments, questions and answers are each read with their author's public
summary (the ``author_*`` columns, read back with ``UserSummary.from_row``) and
the caller's vote (``my_vote``); the feed shows both too, search the author. The
fragment is written here once so that every statement returns the same columns
under the same names, and so that the rule for anonymous callers (see
:func:`my_vote`) is kept in one place. Fragments are constants or built from
code constants (aliases, votable types), never from input.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from focushub.core.schemas import user_ref

# The author, joined as ``u`` by author_join().
AUTHOR_COLUMNS = (
    "u.id AS author_id, u.username AS author_username, u.full_name AS author_full_name,"
    " u.avatar_url AS author_avatar_url"
)


def author_join(alias: str) -> str:
    """Join the author of the rows ``alias`` (which have ``author_id``) as ``u``."""
    return f"JOIN public.users u ON u.id = {alias}.author_id"


def my_vote(authenticated: bool, alias: str, votable_type: str | None = None) -> str:
    """The caller's vote on ``alias``.id as text, NULL when none, ``AS my_vote``.

    ``votable_type`` is the type of every row of ``alias`` ('post', 'comment',
    'question' or 'answer'); without it each row names its own in ``alias``.type
    (the feed mixes posts and questions).

    ``anon`` has no privilege on votes at all (votes are private to the voter), so
    for an anonymous caller the column is a constant: the statement must not name
    the table, or it would be refused. A voter has at most one vote per target
    (UNIQUE (user_id, votable_type, votable_id)), so the subquery yields at most
    one row: what a LEFT JOIN on votes would give, as one column that fits any
    statement (a CTE after INSERT/UPDATE, the comment tree, the feed's page).
    """
    if not authenticated:
        return "NULL::text AS my_vote"
    kind = f"'{votable_type}'" if votable_type is not None else f"{alias}.type"
    return (
        "(SELECT v.vote_type::text FROM public.votes v WHERE v.user_id = auth.uid()"
        f" AND v.votable_type = {kind} AND v.votable_id = {alias}.id) AS my_vote"
    )


def author_and_my_vote(authenticated: bool, alias: str, votable_type: str | None = None) -> str:
    """:data:`AUTHOR_COLUMNS` and :func:`my_vote`: the columns every list and page of
    posts, comments, questions and answers ends with."""
    return f"{AUTHOR_COLUMNS}, {my_vote(authenticated, alias, votable_type)}"


def author_json(alias: str) -> str:
    """The :data:`AUTHOR_COLUMNS` of the rows ``alias`` as one JSON object, a
    ``UserSummary`` written by PostgreSQL (hot reads, ``focushub.core.jsonsql``)."""
    return (
        f"json_build_object('id', {alias}.author_id, 'username', {alias}.author_username,"
        f" 'full_name', {alias}.author_full_name, 'avatar_url', {alias}.author_avatar_url)"
    )


def author_filter(column: str) -> str:
    """``column`` is the author named by a list's ``author``, a username or a user id.

    A username may be 32 hex digits, which also reads as an id written without hyphens:
    the account of that username comes first, the account of that id otherwise (as a
    profile is found, ``users.service.get_profile``). Read once (an InitPlan), so the
    author's index still serves the page. Binds :func:`author_params`.
    """
    return (f"{column} = (SELECT a.id FROM public.users a"
            " WHERE a.username = :author_username OR a.id = CAST(:author_id AS uuid)"
            " ORDER BY a.username = :author_username DESC NULLS LAST LIMIT 1)")


def author_params(author: str | UUID) -> dict[str, Any]:
    """The parameters of :func:`author_filter` for ``author`` (either reading, or both)."""
    if isinstance(author, UUID):
        return {"author_id": author, "author_username": None}
    username, author_id = user_ref(author)
    return {"author_id": author_id, "author_username": username}
