"""Answers are seen only with their question; accepting, withdrawing an acceptance and
rating refuse what the caller may not see.

Revision ID: 0046_answers_follow_question
Revises: 0045_notifications_subjects

The seed's ``"Anyone can view answers"`` policy is ``true``: the answers of a question a
moderator hid, or whose author blocked the reader, could still be read by id or by question
in SQL (the API checked the question first). The policy keeps its name and now has the
test the comments' (their post) and the AI answers' (their question) have had since 0003:
an answer is visible when its question is.

``accept_answer()``, ``unaccept_answer()`` and ``rate_ai_answer()`` run as their owner
(they write rows the caller may not update), so no policy applies to what they read. They
accepted, or rated, an answer a moderator had hid, or one by someone the asker blocked,
which the caller then could not read back. Now:

* ``question_visible_to_caller(id)`` and ``answer_visible_to_caller(id)`` say whether the
  caller's SELECT policies (hidden, blocks, an answer's question) would show the row;
  ``tests/db`` checks that they agree with the policies for every case these distinguish.
* ``accept_answer()`` and ``unaccept_answer()`` answer ``not_found`` for an answer the
  caller may not see, before anything else (so nobody learns it exists).
* ``rate_ai_answer()`` answers ``not_found`` for an AI answer the caller may not see (one a
  moderator hid, unless the caller is an administrator, or one of a question the caller may
  not see), before ``forbidden``.

The bodies of ``accept_answer()`` and ``unaccept_answer()`` are not restated: each is
renamed ``…_checked()``, callable only from the new function of the old name, which checks
visibility first.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0046_answers_follow_question"
down_revision = "0045_notifications_subjects"
branch_labels = None
depends_on = None

_ROLES = "PUBLIC, anon, authenticated, service_role"


_COMMENTS = {
    "accept_answer": "The question's author accepts this answer (replacing any other); the "
                     "question becomes answered.",
    "unaccept_answer": "The question's author withdraws the acceptance of this answer; the "
                       "question reopens.",
}


def _wrap(name: str, what: str) -> str:
    return f"""
    ALTER FUNCTION public.{name}(uuid) RENAME TO {name}_checked;
    REVOKE ALL ON FUNCTION public.{name}_checked(uuid) FROM {_ROLES};
    COMMENT ON FUNCTION public.{name}_checked(uuid) IS
        'The body of {name}(), called by it once the caller may see the answer.';
    CREATE FUNCTION public.{name}(p_answer_id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to {what}';
        END IF;
        IF NOT public.answer_visible_to_caller(p_answer_id) THEN
            RAISE EXCEPTION 'not_found: there is no answer with this id';
        END IF;
        PERFORM public.{name}_checked(p_answer_id);
    END
    $$;
    COMMENT ON FUNCTION public.{name}(uuid) IS '{_COMMENTS[name].replace("'", "''")}';
    REVOKE ALL ON FUNCTION public.{name}(uuid) FROM {_ROLES};
    GRANT EXECUTE ON FUNCTION public.{name}(uuid) TO authenticated;
    """


# rate_ai_answer() as 0016 wrote it, and the condition this adds to its lookup.
_RATE = """
    CREATE OR REPLACE FUNCTION public.rate_ai_answer(p_answer_id uuid, p_rating integer)
    RETURNS SETOF ai_answers
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        asker uuid;
    BEGIN
        SELECT q.author_id INTO asker FROM ai_answers a JOIN questions q ON q.id = a.question_id
        WHERE a.id = p_answer_id{visible};
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
_RATE_VISIBLE = """
          AND (a.hidden_at IS NULL OR focushub_auth.is_admin())
          AND public.question_visible_to_caller(a.question_id)"""


def _rate(visible: str) -> str:
    return _RATE.format(visible=visible)


def upgrade() -> None:
    run_sql(f"""
    ALTER POLICY "Anyone can view answers" ON answers
        USING (EXISTS (SELECT 1 FROM questions q WHERE q.id = answers.question_id));

    CREATE FUNCTION public.question_visible_to_caller(p_question_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM questions q
            WHERE q.id = p_question_id
              AND (q.hidden_at IS NULL OR q.author_id = auth.uid() OR focushub_auth.is_admin())
              AND q.author_id <> ALL (public.block_wall()))
    $$;
    COMMENT ON FUNCTION public.question_visible_to_caller(uuid) IS
        'Whether the SELECT policies of questions show this question to the caller; for functions that run as their owner.';
    CREATE FUNCTION public.answer_visible_to_caller(p_answer_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM answers a
            WHERE a.id = p_answer_id
              AND (a.hidden_at IS NULL OR a.author_id = auth.uid() OR focushub_auth.is_admin())
              AND a.author_id <> ALL (public.block_wall())
              AND public.question_visible_to_caller(a.question_id))
    $$;
    COMMENT ON FUNCTION public.answer_visible_to_caller(uuid) IS
        'Whether the SELECT policies of answers and questions show this answer to the caller; for functions that run as their owner.';
    REVOKE ALL ON FUNCTION public.question_visible_to_caller(uuid) FROM {_ROLES};
    GRANT EXECUTE ON FUNCTION public.question_visible_to_caller(uuid) TO authenticated;
    REVOKE ALL ON FUNCTION public.answer_visible_to_caller(uuid) FROM {_ROLES};
    GRANT EXECUTE ON FUNCTION public.answer_visible_to_caller(uuid) TO authenticated;

    {_wrap("accept_answer", "accept an answer")}
    {_wrap("unaccept_answer", "withdraw an acceptance")}

    {_rate(_RATE_VISIBLE)}
    """)


def _unwrap(name: str) -> str:
    return f"""
    DROP FUNCTION public.{name}(uuid);
    ALTER FUNCTION public.{name}_checked(uuid) RENAME TO {name};
    COMMENT ON FUNCTION public.{name}(uuid) IS '{_COMMENTS[name].replace("'", "''")}';
    GRANT EXECUTE ON FUNCTION public.{name}(uuid) TO authenticated;
    """


def downgrade() -> None:
    run_sql(f"""
    {_rate("")}
    {_unwrap("unaccept_answer")}
    {_unwrap("accept_answer")}
    DROP FUNCTION public.answer_visible_to_caller(uuid);
    DROP FUNCTION public.question_visible_to_caller(uuid);
    ALTER POLICY "Anyone can view answers" ON answers USING (true);
    """)
