"""SQL of the posts domain.

Every query returns the same columns (``post_columns``): the post, its author
and the caller's vote, so one row is one ``PostRead`` and a page is one query.
Only fixed fragments defined here are ever joined into a statement; values are
always bound parameters.
"""

from __future__ import annotations

# The post's own columns, by name (never *: search_vector stays in the database).
_POST = (
    "p.id, p.title, p.content, p.category, coalesce(p.tags, '{}') AS tags, p.is_published,"
    " p.likes_count, p.comments_count, p.created_at, p.updated_at"
)
_AUTHOR = (
    "u.id AS author_id, u.username AS author_username, u.full_name AS author_full_name,"
    " u.avatar_url AS author_avatar_url"
)
RETURNING = (
    "id, author_id, title, content, category, tags, is_published, likes_count, comments_count,"
    " created_at, updated_at"
)

# anon has no privilege on votes at all (votes are private to the voter), so an
# anonymous caller's query must not mention the table.
_MY_VOTE_JOIN = " LEFT JOIN votes v ON v.votable_type = 'post' AND v.votable_id = p.id AND v.user_id = auth.uid()"


def post_columns(authenticated: bool) -> tuple[str, str]:
    """(select list, join clause) for posts ``p`` joined to their author and the caller's vote."""
    if authenticated:
        return f"{_POST}, {_AUTHOR}, v.vote_type::text AS my_vote", _MY_VOTE_JOIN
    return f"{_POST}, {_AUTHOR}, NULL::text AS my_vote", ""


def select_posts(authenticated: bool, source: str = "posts p") -> str:
    """``SELECT ... FROM <source> JOIN users JOIN votes``; the caller appends WHERE/ORDER."""
    columns, vote_join = post_columns(authenticated)
    return f"SELECT {columns} FROM {source} JOIN users u ON u.id = p.author_id{vote_join}"


INSERT_POST = f"""
    INSERT INTO posts (author_id, title, content, category, tags, is_published)
    VALUES (auth.uid(), :title, :content, :category, :tags, :is_published)
    RETURNING {RETURNING}
"""

# Visible to the caller, and whether it is theirs: tells 404 from 403 after a
# write that matched no row.
VISIBLE_POST = (
    "SELECT coalesce(p.author_id = auth.uid(), false) AS mine FROM posts p WHERE p.id = :id"
)

DELETE_POST = "DELETE FROM posts WHERE id = :id RETURNING id"

# Keyset orders of the list and the matching "after the cursor" predicates.
# The published-only variants match the partial indexes of 0005 exactly.
ORDERS = {
    "new": ("p.created_at DESC, p.id DESC", "(p.created_at, p.id) < (:c_created_at, :c_id)"),
    "top": (
        "p.likes_count DESC, p.created_at DESC, p.id DESC",
        "(p.likes_count, p.created_at, p.id) < (:c_likes, :c_created_at, :c_id)",
    ),
}

# Filters of the list, each a fixed fragment with its own parameter.
FILTER_PUBLISHED = "p.is_published"
# "My drafts": the policy would hide other people's drafts anyway; naming the
# author here lets the planner use idx_posts_author_new.
FILTER_MY_DRAFTS = "NOT p.is_published AND p.author_id = auth.uid()"
FILTER_CATEGORY = "p.category = :category"
FILTER_TAG = "p.tags @> ARRAY[CAST(:tag AS text)]"
FILTER_AUTHOR_ID = "p.author_id = :author_id"
FILTER_AUTHOR_USERNAME = "u.username = :author_username"
