"""Posts, threaded comments and votes: keyset indexes and the replies counter.

Revision ID: 0005_posts_comments_votes
Revises: 0004_auth_credentials

The tables, policies and vote/comment counters of these domains come from the
seed (0002) as fixed in 0003. This revision adds only what the API's queries
need to stay fast as the tables grow:

* indexes that match the keyset orders of the post list exactly (``new``:
  created_at, id; ``top``: likes_count, created_at, id), partial on published
  posts because the public list never shows drafts, plus the author's own list
  (profile pages and "my drafts");
* indexes for the comment tree: one page of top-level comments of a post, and
  the first replies of a comment, both oldest first;
* ``comments.replies_count`` (not in the seed), the number of direct replies,
  maintained by a trigger like the other counters, so the bounded comment
  tree can say how many replies it did not show without counting them.

Cost worth knowing: because ``likes_count`` is indexed (the ``top`` order), a
vote on a post is no longer a HOT update; every index of ``posts`` gets a new
entry. Posts are read far more often than voted on; comments' likes_count is
deliberately not indexed.
"""

from focushub.migrations.sql import run_sql

revision = "0005_posts_comments_votes"
down_revision = "0004_auth_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- ------------------------------------------------------------- posts
    -- GET /posts?sort=new and ?sort=top read these in order and stop after
    -- one page; the row comparison of the cursor is an index range.
    CREATE INDEX idx_posts_published_new
        ON posts (created_at DESC, id DESC) WHERE is_published;
    CREATE INDEX idx_posts_published_top
        ON posts (likes_count DESC, created_at DESC, id DESC) WHERE is_published;
    -- GET /posts?author=... and ?drafts=true (drafts included, hence not partial).
    CREATE INDEX idx_posts_author_new
        ON posts (author_id, created_at DESC, id DESC);

    -- ---------------------------------------------------------- comments
    -- One page of the top-level comments of a post, oldest first.
    CREATE INDEX idx_comments_post_top_level
        ON comments (post_id, created_at, id) WHERE parent_id IS NULL;
    -- The first N replies of each comment in the bounded tree, oldest first.
    CREATE INDEX idx_comments_parent_created
        ON comments (parent_id, created_at, id);

    -- Direct replies of a comment. Written only by the trigger below (no
    -- request role has a column privilege to write it); readable with the
    -- table-level SELECT that comments already have.
    ALTER TABLE comments ADD COLUMN replies_count INTEGER NOT NULL DEFAULT 0
        CONSTRAINT comments_replies_count_check CHECK (replies_count >= 0);
    UPDATE comments c
       SET replies_count = (SELECT count(*) FROM comments r WHERE r.parent_id = c.id);

    -- Row-level `SET replies_count = replies_count +/- 1` on the parent, as
    -- the other counters: concurrent replies queue on the parent's row lock
    -- and the count stays exact. When the parent itself is being deleted
    -- (its replies go by cascade) the UPDATE finds no row, which is right.
    -- SECURITY DEFINER: the replier may not write someone else's comment.
    -- Its trigger name sorts after update_comment_counts_trigger, so every
    -- transaction locks the post row before the parent comment row.
    CREATE FUNCTION update_comment_replies_count() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND NEW.parent_id IS NOT NULL THEN
            UPDATE comments SET replies_count = replies_count + 1 WHERE id = NEW.parent_id;
        ELSIF TG_OP = 'DELETE' AND OLD.parent_id IS NOT NULL THEN
            UPDATE comments SET replies_count = replies_count - 1 WHERE id = OLD.parent_id;
        END IF;
        RETURN NULL;
    END
    $$;
    REVOKE ALL ON FUNCTION update_comment_replies_count() FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER update_comment_replies_count_trigger
        AFTER INSERT OR DELETE ON comments
        FOR EACH ROW EXECUTE FUNCTION update_comment_replies_count();

    SET LOCAL search_path TO DEFAULT;
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    DROP TRIGGER update_comment_replies_count_trigger ON comments;
    DROP FUNCTION update_comment_replies_count();
    ALTER TABLE comments DROP COLUMN replies_count;

    DROP INDEX idx_comments_parent_created;
    DROP INDEX idx_comments_post_top_level;
    DROP INDEX idx_posts_author_new;
    DROP INDEX idx_posts_published_top;
    DROP INDEX idx_posts_published_new;

    SET LOCAL search_path TO DEFAULT;
    """)
