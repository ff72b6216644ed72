"""An answer cannot slip into a question that is being closed.

Revision ID: 0012_answer_close_lock
Revises: 0011_set_vote

``check_answer_question_open`` (0003) read the question's status without a
lock: an answer inserted while another transaction was closing the question
saw the old 'open' status and was accepted after the close committed. The
check now locks the question row (FOR NO KEY UPDATE, the lock the
``answers_count`` trigger takes on the same row a moment later anyway), so it
waits for a concurrent close and then sees 'closed'.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0012_answer_close_lock"
down_revision = "0011_set_vote"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.check_answer_question_open() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        current_status question_status;
    BEGIN
        SELECT q.status INTO current_status FROM questions q
        WHERE q.id = NEW.question_id FOR NO KEY UPDATE;
        IF current_status = 'closed' THEN
            RAISE EXCEPTION 'conflict: this question is closed';
        END IF;
        RETURN NEW;
    END
    $$;
    """)


def downgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.check_answer_question_open() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM questions q WHERE q.id = NEW.question_id AND q.status = 'closed') THEN
            RAISE EXCEPTION 'conflict: this question is closed';
        END IF;
        RETURN NEW;
    END
    $$;
    """)
