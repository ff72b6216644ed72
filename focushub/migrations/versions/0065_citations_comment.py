"""The comment of ``ai_answers.citations`` says what it now holds.

Revision ID: 0065_citations_comment
Revises: 0064_rate_finished_ai_answers

An answer made by a model now keeps, after the sources it cited, those it was given but did
not cite, marked ``"cited": false`` with only ``{n, type, id}``: its text may quote them, so a
reader who may no longer see one of them is not shown the text (``focushub/ai/queries.py``).
They are never shown as citations. The column's comment said only what a citation holds.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0065_citations_comment"
down_revision = "0064_rate_finished_ai_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
        COMMENT ON COLUMN public.ai_answers.citations IS
            'What the answer quotes: [{n, type, id, title, url, quote}], n as in [n] in the text; '
            'then the sources a model was given but did not cite: [{n, type, id, "cited": false}], '
            'never shown, but a reader who may not see one is not shown the text.';
    """)


def downgrade() -> None:
    run_sql("""
        COMMENT ON COLUMN public.ai_answers.citations IS
            'What the answer quotes: [{n, type, id, title, url, quote}], n as in [n] in the text.';
    """)
