"""A vote and the target's new count in one call.

Revision ID: 0011_set_vote
Revises: 0010_trending_score

Casting a vote took two statements: the upsert, then a read of the counter
that the AFTER trigger had moved (a CTE of the upsert would not see it).
``set_vote()`` runs both inside the database: one round trip. It is SECURITY
INVOKER, so the caller's privileges, the RLS policies and the vote triggers
(check_vote_target: 404 / 409) apply exactly as for the plain statements.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0011_set_vote"
down_revision = "0010_trending_score"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    CREATE FUNCTION public.set_vote(p_votable_type text, p_votable_id uuid, p_vote_type vote_type)
    RETURNS integer
    LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp
    AS $fn$
    BEGIN
        IF p_votable_type NOT IN ('post', 'comment', 'question', 'answer') THEN
            RAISE EXCEPTION 'set_vote: unknown votable_type %', p_votable_type USING ERRCODE = '22023';
        END IF;
        IF p_vote_type IS NULL THEN
            DELETE FROM votes
            WHERE user_id = auth.uid() AND votable_type = p_votable_type AND votable_id = p_votable_id;
        ELSE
            INSERT INTO votes (user_id, votable_type, votable_id, vote_type)
            VALUES (auth.uid(), p_votable_type, p_votable_id, p_vote_type)
            ON CONFLICT (user_id, votable_type, votable_id) DO UPDATE SET vote_type = EXCLUDED.vote_type;
        END IF;
        -- Read after the statement above, so its AFTER trigger has moved the
        -- counter; under RLS, so a target the caller cannot see gives NULL.
        RETURN CASE p_votable_type
            WHEN 'post' THEN (SELECT likes_count FROM posts WHERE id = p_votable_id)
            WHEN 'comment' THEN (SELECT likes_count FROM comments WHERE id = p_votable_id)
            WHEN 'question' THEN (SELECT votes_count FROM questions WHERE id = p_votable_id)
            ELSE (SELECT votes_count FROM answers WHERE id = p_votable_id)
        END;
    END
    $fn$;
    COMMENT ON FUNCTION public.set_vote(text, uuid, vote_type) IS
        'Cast (upvote/downvote) or, with NULL, withdraw the caller''s vote; returns the target''s '
        'count after it, NULL when the caller cannot see the target. Runs as the caller.';
    REVOKE ALL ON FUNCTION public.set_vote(text, uuid, vote_type)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.set_vote(text, uuid, vote_type) TO authenticated;

    SET LOCAL search_path TO DEFAULT;
    """)


def downgrade() -> None:
    run_sql("""
    DROP FUNCTION public.set_vote(text, uuid, vote_type);
    """)
