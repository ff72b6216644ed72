"""Only a finished AI answer can be rated.

Revision ID: 0064_rate_finished_ai_answers
Revises: 0063_resources_by_name_and_size

``rate_ai_answer()`` (0016, 0046) let the asker rate an AI answer still being written
(``pending``) or one that could not be made (``failed``): a rating of nothing, counted in the
model's figures beside the ratings of real answers. It now answers ``conflict`` (409) unless
the answer is ``completed`` or ``abstained`` (an abstention is an answer too: saying the
community's material does not cover the question, which the asker may find right or wrong).
The lookup, its visibility condition and the order of the checks (``not_found`` before
``forbidden`` before this) are 0046's.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0064_rate_finished_ai_answers"
down_revision = "0063_resources_by_name_and_size"
branch_labels = None
depends_on = None

FINISHED = """
    CREATE OR REPLACE FUNCTION public.rate_ai_answer(p_answer_id uuid, p_rating integer)
    RETURNS SETOF ai_answers
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        asker uuid;
        answer_status text;
    BEGIN
        SELECT q.author_id, a.status INTO asker, answer_status
          FROM ai_answers a JOIN questions q ON q.id = a.question_id
        WHERE a.id = p_answer_id
          AND (a.hidden_at IS NULL OR focushub_auth.is_admin())
          AND public.question_visible_to_caller(a.question_id);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: no such AI answer';
        END IF;
        IF asker IS DISTINCT FROM auth.uid() THEN
            RAISE EXCEPTION 'forbidden: only the asker rates the AI answers to a question';
        END IF;
        IF answer_status NOT IN ('completed', 'abstained') THEN
            RAISE EXCEPTION 'conflict: only a finished AI answer can be rated';
        END IF;
        RETURN QUERY
        UPDATE ai_answers SET user_feedback_rating = p_rating WHERE id = p_answer_id RETURNING *;
    END
    $$;
"""

# 0046's definition, restated.
PREVIOUS = """
    CREATE OR REPLACE FUNCTION public.rate_ai_answer(p_answer_id uuid, p_rating integer)
    RETURNS SETOF ai_answers
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        asker uuid;
    BEGIN
        SELECT q.author_id INTO asker FROM ai_answers a JOIN questions q ON q.id = a.question_id
        WHERE a.id = p_answer_id
          AND (a.hidden_at IS NULL OR focushub_auth.is_admin())
          AND public.question_visible_to_caller(a.question_id);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: no such AI answer';
        END IF;
        IF asker IS DISTINCT FROM auth.uid() THEN
            RAISE EXCEPTION 'forbidden: only the asker rates the AI answers to a question';
        END IF;
        RETURN QUERY
        UPDATE ai_answers SET user_feedback_rating = p_rating WHERE id = p_answer_id RETURNING *;
    END
    $$;
"""


def upgrade() -> None:
    run_sql(FINISHED)


def downgrade() -> None:
    run_sql(PREVIOUS)
