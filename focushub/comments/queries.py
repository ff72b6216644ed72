"""SQL of the comments domain, above all the bounded comment tree.

The tree is one recursive query: a page of root comments in keyset order, then
for each node its first ``:per_node`` direct replies (oldest first, through
idx_comments_parent_created), down to ``:max_depth`` levels. Every node carries
``replies_count`` (a counter column, 0005), so the number of replies not shown
costs nothing. The statement touches at most limit * (1 + n + ... + n^(d-1))
comments whatever the size of the discussion.
"""

from __future__ import annotations

from focushub.content.sql import author_and_my_vote, author_join

_COMMENT = (
    "c.id, c.post_id, c.parent_id, c.content, c.likes_count, c.replies_count,"
    " c.created_at, c.updated_at"
)
RETURNING = (
    "id, post_id, parent_id, author_id, content, likes_count, replies_count, created_at, updated_at"
)


def select_comments(authenticated: bool, source: str = "comments c", extra: str = "") -> str:
    """``SELECT`` comments ``c`` with their author ``u`` and the caller's vote (plus
    ``extra`` columns) from ``source``."""
    return (
        f"SELECT {_COMMENT}, {author_and_my_vote(authenticated, 'c', 'comment')}{extra}"
        f" FROM {source} {author_join('c')}"
    )


# The post exists for the caller (RLS: published, or their own draft).
VISIBLE_POST = "SELECT 1 FROM posts WHERE id = :post_id"
# A comment the caller can see (RLS: its post is visible), and whether it is theirs.
VISIBLE_COMMENT = (
    "SELECT coalesce(c.author_id = auth.uid(), false) AS mine FROM comments c WHERE c.id = :id"
)

# Inserting through a SELECT of the post makes "post not visible" an empty
# insert (404) instead of an RLS WITH CHECK failure (which would read as 403).
# The parent is asked for under RLS too: check_comment_parent (0003) runs as its
# owner and sees every comment, so a reply to one hidden by a moderator or behind
# a block would be stored under a parent nobody else is shown. It still refuses a
# (visible) parent on another post (422).
INSERT_COMMENT = f"""
    INSERT INTO comments (post_id, author_id, parent_id, content)
    SELECT p.id, auth.uid(), CAST(:parent_id AS uuid), :content FROM posts p
    WHERE p.id = :post_id
      AND (CAST(:parent_id AS uuid) IS NULL
           OR EXISTS (SELECT 1 FROM comments pc WHERE pc.id = CAST(:parent_id AS uuid)))
    RETURNING {RETURNING}
"""
UPDATE_COMMENT = f"UPDATE comments SET content = :content WHERE id = :id RETURNING {RETURNING}"
DELETE_COMMENT = "DELETE FROM comments WHERE id = :id RETURNING id"

# Roots of a tree: the top-level comments of a post, or the replies of a comment.
# Each is (anchor row, condition on the comments c under it). The roots are read
# in a LATERAL subquery parameterised by the (materialized) anchor row rather
# than by the bound value, so the planner estimates "the comments of some post"
# and not "the comments of this very popular post". With the latter estimate it
# evaluates the comments policy (is the post visible?) by hashing every visible
# post, a scan of the whole posts table (60 ms at 100k posts, measured), instead
# of one index probe per comment, which is all a page of 20 needs (under 1 ms).
ROOTS_OF_POST = (
    "SELECT p.id FROM posts p WHERE p.id = :post_id",
    "c.post_id = anchor.id AND c.parent_id IS NULL",
)
ROOTS_UNDER_COMMENT = (
    "SELECT a.id FROM comments a WHERE a.id = :parent_id",
    "c.parent_id = anchor.id",
)
AFTER_CURSOR = " AND (c.created_at, c.id) > (:c_created_at, :c_id)"


def comment_tree(authenticated: bool, roots: tuple[str, str], after_cursor: bool) -> str:
    """The bounded tree under ``roots`` (one of the ROOTS_* pairs), ordered by
    depth, then oldest first: parents always come before their replies.

    Parameters: that of ``roots``, :limit (roots fetched), :per_node,
    :max_depth, and :c_created_at/:c_id when ``after_cursor``.
    """
    anchor, under_anchor = roots
    cursor = AFTER_CURSOR if after_cursor else ""
    tree = f"""
        WITH RECURSIVE anchor AS MATERIALIZED ({anchor}),
        roots AS (
            SELECT r.id FROM anchor CROSS JOIN LATERAL (
                SELECT c.id FROM comments c
                WHERE {under_anchor}{cursor}
                ORDER BY c.created_at, c.id
                LIMIT :limit
            ) r
        ), tree AS (
            SELECT roots.id, 1 AS depth FROM roots
            UNION ALL
            SELECT child.id, tree.depth + 1
            FROM tree
            CROSS JOIN LATERAL (
                SELECT c.id FROM comments c
                WHERE c.parent_id = tree.id
                ORDER BY c.created_at, c.id
                LIMIT :per_node
            ) child
            WHERE tree.depth < :max_depth
        )
    """
    select = select_comments(
        authenticated, source="tree JOIN comments c ON c.id = tree.id", extra=", tree.depth"
    )
    return f"{tree} {select} ORDER BY tree.depth, c.created_at, c.id"


# The top-level comment a comment of the post sits under (itself when it is top-level), and
# the top-level comment just before that one: a page that starts after the latter begins
# with the former (what a link to one comment opens). One row, or none when the comment is
# not the post's or not visible; ``before_*`` are null when its top-level comment is the first.
ROOT_AND_PREVIOUS = """
WITH RECURSIVE up AS (
    SELECT c.id, c.parent_id, c.created_at FROM comments c
    WHERE c.id = :comment_id AND c.post_id = :post_id
  UNION ALL
    SELECT c.id, c.parent_id, c.created_at FROM comments c JOIN up ON c.id = up.parent_id
)
SELECT root.id AS root_id, before.created_at AS before_created_at, before.id AS before_id
FROM up AS root
LEFT JOIN LATERAL (
    SELECT b.created_at, b.id FROM comments b
    WHERE b.post_id = :post_id AND b.parent_id IS NULL
      AND (b.created_at, b.id) < (root.created_at, root.id)
    ORDER BY b.created_at DESC, b.id DESC
    LIMIT 1
) AS before ON true
WHERE root.parent_id IS NULL
"""
