"""Posts and comments take likes; questions and answers take up- and downvotes.

Revision ID: 0027_likes_only
Revises: 0026_admin_growth

The seed names the counters ``posts.likes_count`` / ``comments.likes_count`` and
``questions.votes_count`` / ``answers.votes_count``, but one ``votes`` table with
``upvote``/``downvote`` served all four, so a downvoted post had -1 "likes". The model
now follows the names: a post or comment is liked (an ``upvote`` row) or not, and its
``likes_count`` counts likes, never below zero; questions and answers keep a net score
(``votes_count``, which may be negative, as on Q&A sites). Existing downvotes of posts
and comments are removed (the counter trigger gives each point back), then the
``votes_likes_are_upvotes`` check keeps them out and ``likes_count`` gets the same
non-negative check as every other counter of rows.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0027_likes_only"
down_revision = "0026_admin_growth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    DELETE FROM public.votes WHERE votable_type IN ('post', 'comment') AND vote_type = 'downvote';
    ALTER TABLE public.votes ADD CONSTRAINT votes_likes_are_upvotes
        CHECK (vote_type = 'upvote' OR votable_type IN ('question', 'answer'));
    ALTER TABLE public.posts ADD CONSTRAINT posts_likes_count_not_negative
        CHECK (likes_count >= 0);
    ALTER TABLE public.comments ADD CONSTRAINT comments_likes_count_not_negative
        CHECK (likes_count >= 0);
    """)


def downgrade() -> None:
    run_sql("""
    ALTER TABLE public.comments DROP CONSTRAINT comments_likes_count_not_negative;
    ALTER TABLE public.posts DROP CONSTRAINT posts_likes_count_not_negative;
    ALTER TABLE public.votes DROP CONSTRAINT votes_likes_are_upvotes;
    """)
