"""Questions and answers: accepted answers, views once per viewer per day.

Revision ID: 0006_questions_answers
Revises: 0005_posts_comments_votes
"""

from focushub.migrations.sql import run_sql

revision = "0006_questions_answers"
down_revision = "0005_posts_comments_votes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("SELECT 1")


def downgrade() -> None:
    run_sql("SELECT 1")
