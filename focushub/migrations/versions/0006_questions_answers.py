"""Questions and answers: accepted answers, views once per viewer per day.

Revision ID: 0006_questions_answers
Revises: 0005_posts_comments_votes

What 0003 already settles and this revision relies on: answers_count is kept by
``update_answer_counts`` (deleting the accepted answer reopens the question);
``answers_one_accepted_per_question`` allows one accepted answer per question;
``check_question_update`` lets the author edit and close/reopen, an admin only
close/reopen, and nobody set 'answered' by hand; ``check_answer_question_open``
refuses answers to a closed question ('conflict: ...', a 409). No request role
holds a privilege on ``answers.is_accepted`` or ``questions.views_count``, so the
two things a request may not write itself go through the SECURITY DEFINER
functions below.
"""

from focushub.migrations.sql import run_sql

revision = "0006_questions_answers"
down_revision = "0005_posts_comments_votes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- =================================================================
    -- 1. Views, once per viewer per (UTC) day.
    -- viewer_key is the user id (text) for a signed-in viewer, and for an
    -- anonymous one 'anon:' followed by 32 hex digits: a keyed hash of the
    -- client address and the day, computed by the API, so the table holds
    -- no address and anonymous keys cannot be linked from one day to the
    -- next. Only today's rows matter for counting: a maintenance job may
    -- delete older ones (service_role holds the table), which is what the
    -- index on day is for. No request role has any privilege on it.
    -- =================================================================
    CREATE TABLE question_views (
        question_id UUID NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
        viewer_key TEXT NOT NULL CONSTRAINT question_views_viewer_key_length
            CHECK (char_length(viewer_key) BETWEEN 1 AND 64),
        day DATE NOT NULL,
        PRIMARY KEY (question_id, viewer_key, day)
    );
    CREATE INDEX idx_question_views_day ON question_views (day);
    ALTER TABLE question_views ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON question_views FROM PUBLIC, anon, authenticated;
    GRANT ALL ON question_views TO service_role;

    -- Count one view of a question. Returns true when this viewer had not
    -- viewed it yet today (the counter moved), false otherwise, and false
    -- when there is no such question. A signed-in caller is always counted
    -- as themselves: p_viewer_key is used only for anonymous callers.
    -- Exact under concurrency: two requests of one viewer meet on the
    -- primary key and only the one that inserted increments.
    CREATE FUNCTION public.record_question_view(p_question_id uuid, p_viewer_key text)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        viewer text;
    BEGIN
        IF auth.uid() IS NOT NULL THEN
            viewer := auth.uid()::text;
        ELSIF p_viewer_key ~ '^anon:[0-9a-f]{32}$' THEN
            viewer := p_viewer_key;
        ELSE
            RAISE EXCEPTION
                'validation_error: an anonymous viewer key is ''anon:'' and 32 hex digits';
        END IF;
        INSERT INTO question_views (question_id, viewer_key, day)
        SELECT q.id, viewer, (now() AT TIME ZONE 'UTC')::date
        FROM questions q WHERE q.id = p_question_id
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        UPDATE questions SET views_count = views_count + 1 WHERE id = p_question_id;
        RETURN true;
    END
    $$;
    COMMENT ON FUNCTION public.record_question_view(uuid, text) IS
        'Count a view of a question once per viewer per UTC day; true when counted.';

    -- =================================================================
    -- 2. Accepting an answer, and withdrawing the acceptance.
    -- Only the question's author, never on a closed question. Both lock the
    -- question row first, so that acceptance changes of one question run
    -- one after another: a second accept waits, then sees the first one's
    -- answer and unsets it before setting its own, so switching is atomic
    -- and parallel accepts all succeed, the last one winning (the partial
    -- unique index stays the guarantee). FOR NO KEY UPDATE rather than FOR
    -- UPDATE: answer inserts and votes take KEY SHARE on the question (FK
    -- checks, check_vote_target) and need not queue behind an accept.
    -- =================================================================
    CREATE FUNCTION public.accept_answer(p_answer_id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        q_id uuid;
        q_author uuid;
        q_status question_status;
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to accept an answer';
        END IF;
        SELECT a.question_id INTO q_id FROM answers a WHERE a.id = p_answer_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: there is no answer with this id';
        END IF;
        SELECT q.author_id, q.status INTO q_author, q_status
        FROM questions q WHERE q.id = q_id FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: there is no answer with this id';
        END IF;
        IF q_author IS DISTINCT FROM auth.uid() THEN
            RAISE EXCEPTION 'forbidden: only the author of the question can accept an answer';
        END IF;
        IF q_status = 'closed' THEN
            RAISE EXCEPTION
                'conflict: this question is closed; reopen it to change its accepted answer';
        END IF;
        -- The answer may have been deleted while this waited for the lock.
        PERFORM 1 FROM answers a WHERE a.id = p_answer_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: there is no answer with this id';
        END IF;
        UPDATE answers SET is_accepted = false
        WHERE question_id = q_id AND is_accepted AND id <> p_answer_id;
        UPDATE answers SET is_accepted = true WHERE id = p_answer_id AND NOT is_accepted;
        UPDATE questions SET status = 'answered' WHERE id = q_id AND status = 'open';
    END
    $$;
    COMMENT ON FUNCTION public.accept_answer(uuid) IS
        'The question''s author accepts this answer (replacing any other); '
        'the question becomes answered.';

    CREATE FUNCTION public.unaccept_answer(p_answer_id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        q_id uuid;
        q_author uuid;
        q_status question_status;
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to withdraw an acceptance';
        END IF;
        SELECT a.question_id INTO q_id FROM answers a WHERE a.id = p_answer_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: there is no answer with this id';
        END IF;
        SELECT q.author_id, q.status INTO q_author, q_status
        FROM questions q WHERE q.id = q_id FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: there is no answer with this id';
        END IF;
        IF q_author IS DISTINCT FROM auth.uid() THEN
            RAISE EXCEPTION 'forbidden: only the author of the question can withdraw an acceptance';
        END IF;
        IF q_status = 'closed' THEN
            RAISE EXCEPTION
                'conflict: this question is closed; reopen it to change its accepted answer';
        END IF;
        UPDATE answers SET is_accepted = false WHERE id = p_answer_id AND is_accepted;
        IF FOUND THEN
            UPDATE questions SET status = 'open' WHERE id = q_id AND status = 'answered';
        END IF;
    END
    $$;
    COMMENT ON FUNCTION public.unaccept_answer(uuid) IS
        'The question''s author withdraws the acceptance of this answer; the question reopens.';

    REVOKE ALL ON FUNCTION public.record_question_view(uuid, text), public.accept_answer(uuid),
                           public.unaccept_answer(uuid)
        FROM PUBLIC, anon, authenticated, service_role;
    -- Anonymous views count too; the function decides whose view it is.
    GRANT EXECUTE ON FUNCTION public.record_question_view(uuid, text) TO anon, authenticated;
    GRANT EXECUTE ON FUNCTION public.accept_answer(uuid), public.unaccept_answer(uuid)
        TO authenticated;

    -- =================================================================
    -- 3. Indexes for the list views and the answer order.
    -- Keyset pages read these in order and stop after limit + 1 rows.
    -- 'trending' scores the questions of its window (30 days before the
    -- cursor's as_of) found through idx_questions_newest.
    -- =================================================================
    CREATE INDEX idx_questions_newest ON questions (created_at DESC, id DESC);
    CREATE INDEX idx_questions_unanswered ON questions (created_at DESC, id DESC)
        WHERE answers_count = 0 AND status = 'open';
    CREATE INDEX idx_questions_author_newest ON questions (author_id, created_at DESC, id DESC);
    CREATE INDEX idx_questions_category_newest ON questions (category, created_at DESC, id DESC);
    -- Answers of a question in display order: accepted first, then highest
    -- score, then oldest. Written as ascending expressions so that a keyset
    -- cursor is one row comparison the index can start from.
    CREATE INDEX idx_answers_question_ranked
        ON answers (question_id, (NOT is_accepted), (- votes_count), created_at, id);

    SET LOCAL search_path TO DEFAULT;
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    DROP INDEX idx_answers_question_ranked;
    DROP INDEX idx_questions_category_newest;
    DROP INDEX idx_questions_author_newest;
    DROP INDEX idx_questions_unanswered;
    DROP INDEX idx_questions_newest;
    DROP FUNCTION public.unaccept_answer(uuid);
    DROP FUNCTION public.accept_answer(uuid);
    DROP FUNCTION public.record_question_view(uuid, text);
    DROP TABLE question_views;

    SET LOCAL search_path TO DEFAULT;
    """)
