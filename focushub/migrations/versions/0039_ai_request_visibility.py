"""Asking for an AI answer about a question one cannot see is "not found".

Revision ID: 0039_ai_request_visibility
Revises: 0038_credential_changes

``request_ai_answer()`` (0016) is SECURITY DEFINER, so its check that the question exists
ran without the caller's policies: a question hidden by a moderator (0021), or written by
someone in a block with the caller (0025), answered 202, showing that it exists and
spending the caller's daily AI quota. It now finds the question only as the caller's
SELECT policies on ``questions`` would show it (visible, or hidden but the caller's own
or the caller an admin; its author not behind ``block_wall()``), and raises
``not_found: no such question`` otherwise. The function cannot switch to the caller's role
(PostgreSQL refuses ``SET ROLE`` inside SECURITY DEFINER), so the predicate is the
policies' own, and ``tests/db/test_ai_sql.py`` checks that it agrees with a plain SELECT
as the caller; the API asks that SELECT first as well (``ai.service.request_in``).
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0039_ai_request_visibility"
down_revision = "0038_credential_changes"
branch_labels = None
depends_on = None

_REQUEST_AI_ANSWER = """
    CREATE OR REPLACE FUNCTION public.request_ai_answer(p_question_id uuid, p_daily_limit integer)
    RETURNS SETOF public.ai_answers
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        pending ai_answers;
        asked integer;
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to ask for an AI answer';
        END IF;
{check}
        SELECT * INTO pending FROM ai_answers a
        WHERE a.question_id = p_question_id AND a.status = 'pending';
        IF FOUND THEN
            RETURN NEXT pending;
            RETURN;
        END IF;
        -- A failed answer is tried again rather than left beside a new one.
        UPDATE ai_answers a SET status = 'pending', last_error = NULL, completed_at = NULL
        WHERE a.id = (SELECT f.id FROM ai_answers f
                      WHERE f.question_id = p_question_id AND f.status = 'failed'
                      ORDER BY f.created_at DESC LIMIT 1)
        RETURNING * INTO pending;
        IF FOUND THEN
            RETURN NEXT pending;
            RETURN;
        END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended('ai-request:' || auth.uid()::text, 0));
        SELECT count(*) INTO asked FROM ai_answers a
        WHERE a.requested_by = auth.uid()
          AND a.created_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
        IF asked >= p_daily_limit THEN
            RAISE EXCEPTION 'rate_limited: % AI answers a day; try again tomorrow', p_daily_limit;
        END IF;
        RETURN QUERY
        INSERT INTO ai_answers (question_id, answer_text, status, requested_by, generation_attempts)
        VALUES (p_question_id, '', 'pending', auth.uid(), 0)
        ON CONFLICT (question_id) WHERE status = 'pending' DO UPDATE SET status = 'pending'
        RETURNING *;
    END
    $$;
"""

_OLD_CHECK = """        IF NOT EXISTS (SELECT 1 FROM questions q WHERE q.id = p_question_id) THEN
            RAISE EXCEPTION 'not_found: no such question';
        END IF;"""

_NEW_CHECK = """        -- The question as the caller's SELECT policies on questions show it (0021's
        -- "Hidden questions only to author and admins", 0025's "No questions across a
        -- block"): what the caller cannot read does not exist for them, and costs no quota.
        IF NOT EXISTS (SELECT 1 FROM questions q WHERE q.id = p_question_id
                       AND (q.hidden_at IS NULL OR q.author_id = auth.uid()
                            OR focushub_auth.is_admin())
                       AND q.author_id <> ALL (public.block_wall())) THEN
            RAISE EXCEPTION 'not_found: no such question';
        END IF;"""


def upgrade() -> None:
    run_sql(_REQUEST_AI_ANSWER.replace("{check}", _NEW_CHECK))


def downgrade() -> None:
    run_sql(_REQUEST_AI_ANSWER.replace("{check}", _OLD_CHECK))
