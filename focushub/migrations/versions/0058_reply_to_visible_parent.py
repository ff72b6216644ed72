"""A reply needs a parent comment its author may see.

Revision ID: 0058_reply_to_visible_parent
Revises: 0057_mail_tokens_active_only

``check_comment_parent()`` (0003) runs as its owner, so it found any comment of the post
as a reply's parent: a reply to a comment a moderator hid (0021) was stored under a parent
nobody else is shown (it vanished from the thread while the post's count grew), and a reply
to the comment of someone who blocked the replier (0025) reached across the block. For a
request's caller it now refuses, as ``not_found`` (the parent is not there for them), a
parent that is hidden, unless it is their own or they are an administrator, or whose author
is across a block from them, as the comments' SELECT policies would. Maintenance writes (no
caller) are checked as before. The post itself is the insert policy's to check.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0058_reply_to_visible_parent"
down_revision = "0057_mail_tokens_active_only"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION public.check_comment_parent()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
AS $function${body}$function$;
"""

BEFORE = """
    DECLARE
        parent_post uuid;
    BEGIN
        IF NEW.parent_id IS NULL THEN
            RETURN NEW;
        END IF;
        SELECT c.post_id INTO parent_post FROM comments c WHERE c.id = NEW.parent_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: the comment you reply to does not exist';
        END IF;
        IF parent_post <> NEW.post_id THEN
            RAISE EXCEPTION 'validation_error: a reply must belong to the post of the comment it replies to';
        END IF;
        RETURN NEW;
    END
    """

AFTER = """
    DECLARE
        parent_post uuid;
        parent_author uuid;
        parent_hidden timestamptz;
    BEGIN
        IF NEW.parent_id IS NULL THEN
            RETURN NEW;
        END IF;
        SELECT c.post_id, c.author_id, c.hidden_at INTO parent_post, parent_author, parent_hidden
        FROM comments c WHERE c.id = NEW.parent_id;
        -- As the comments' SELECT policies (0021, 0025): hidden except to its author and
        -- administrators, and nothing across a block.
        IF NOT FOUND OR (auth.uid() IS NOT NULL AND (
                (parent_hidden IS NOT NULL AND parent_author IS DISTINCT FROM auth.uid()
                 AND NOT focushub_auth.is_admin())
                OR parent_author = ANY (public.block_wall()))) THEN
            RAISE EXCEPTION 'not_found: the comment you reply to does not exist';
        END IF;
        IF parent_post <> NEW.post_id THEN
            RAISE EXCEPTION 'validation_error: a reply must belong to the post of the comment it replies to';
        END IF;
        RETURN NEW;
    END
    """


def upgrade() -> None:
    run_sql(FUNCTION.format(body=AFTER))


def downgrade() -> None:
    run_sql(FUNCTION.format(body=BEFORE))
