"""SQL of the posts domain.

Every query returns the same columns (``select_posts``): the post, its author
and the caller's vote (``focushub.content.sql``), so one row is one ``PostRead``
and a page is one query. Only fixed fragments are ever joined into a statement;
values are always bound parameters.
"""

from __future__ import annotations

from focushub.content.sql import author_and_my_vote, author_filter, author_join

# The post's own columns, by name (never *: search_vector stays in the database).
_POST = (
    "p.id, p.title, p.content, p.category, coalesce(p.tags, '{}') AS tags, p.is_published,"
    " p.likes_count, p.comments_count, p.created_at, p.updated_at"
)
RETURNING = (
    "id, author_id, title, content, category, tags, is_published, likes_count, comments_count,"
    " created_at, updated_at"
)


def select_posts(authenticated: bool, source: str = "posts p") -> str:
    """``SELECT`` posts ``p`` with their author ``u`` and the caller's vote from ``source``;
    the caller appends WHERE/ORDER."""
    return (
        f"SELECT {_POST}, {author_and_my_vote(authenticated, 'p', 'post')}"
        f" FROM {source} {author_join('p')}"
    )


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
FILTER_AUTHOR = author_filter("p.author_id")
