"""Notifications about a deleted post, question, comment or answer go with it; mentions
in a hidden post or question stop quoting its title.

Revision ID: 0045_notifications_subjects
Revises: 0044_notifications_unquote

A notification's subject is ``data.target_type`` / ``data.target_id`` (0007): the post
that was liked or commented on, the question answered, the comment replied to, or the
text someone was mentioned in. When the subject was deleted, its notifications stayed:
"3 people liked your post" about a post that is gone, and a mention quoting the title of a
post its author deleted or a moderator removed.

Now an AFTER DELETE statement trigger on ``posts``, ``questions``, ``comments`` and
``answers`` (the kind as its argument, the deleted rows as a transition table) deletes
the notifications whose subject is a deleted row: those of its author (likes, comments,
answers, replies) and the mentions of the people its text names. Both are found by
recipient (``idx_notifications_user_id``; mentioned people by username), so the cost
follows the recipients' notifications, and no index on the subject is added (every
notification written would pay for it). A mention removed by an edit before the deletion is not found;
its notification stays.

A post or question a moderator hides is not quoted in its mentions while hidden: an AFTER
UPDATE OF hidden_at row trigger sets their ``message`` to nothing, and back to the title
when it is shown again (0044 does the same for comments and answers).
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0045_notifications_subjects"
down_revision = "0044_notifications_unquote"
branch_labels = None
depends_on = None

_KINDS = (("posts", "post"), ("questions", "question"), ("comments", "comment"),
          ("answers", "answer"))


def upgrade() -> None:
    triggers = "\n".join(f"""
    CREATE TRIGGER notifications_drop_subject_{table}
        AFTER DELETE ON public.{table}
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION public.notifications_drop_subject('{kind}');"""
                         for table, kind in _KINDS)
    hide_triggers = "\n".join(f"""
    CREATE TRIGGER notifications_hide_mentions_{table}
        AFTER UPDATE OF hidden_at ON public.{table}
        FOR EACH ROW WHEN ((OLD.hidden_at IS NULL) <> (NEW.hidden_at IS NULL))
        EXECUTE FUNCTION public.notifications_hide_mentions('{kind}');"""
                              for table, kind in _KINDS[:2])
    run_sql(f"""
    CREATE FUNCTION public.notifications_drop_subject() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        -- Two statements, each joining on the recipient so that the notifications are read
        -- through their user_id index (one with an OR between the two scans them all).
        DELETE FROM notifications n
        USING gone g
        WHERE n.user_id = g.author_id
          AND n.data ->> 'target_type' = TG_ARGV[0] AND n.data ->> 'target_id' = g.id::text;
        DELETE FROM notifications n
        USING gone g, users u
        WHERE u.username = ANY (public.mentioned_usernames(g.content))
          AND n.user_id = u.id AND n.type = 'mention'
          AND n.data ->> 'target_type' = TG_ARGV[0] AND n.data ->> 'target_id' = g.id::text;
        RETURN NULL;
    END
    $$;
    COMMENT ON FUNCTION public.notifications_drop_subject() IS
        'Deletes the notifications about deleted rows: their author''s and the mentions in them (0045).';

    CREATE FUNCTION public.notifications_hide_mentions() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        -- A mention in a post or question quotes its title (0007).
        UPDATE notifications n
        SET message = CASE WHEN NEW.hidden_at IS NULL THEN NEW.title ELSE '' END
        WHERE n.type = 'mention'
          AND n.user_id IN (SELECT u.id FROM users u
                            WHERE u.username = ANY (public.mentioned_usernames(NEW.content)))
          AND n.data ->> 'target_type' = TG_ARGV[0]
          AND n.data ->> 'target_id' = NEW.id::text;
        RETURN NULL;
    END
    $$;
    COMMENT ON FUNCTION public.notifications_hide_mentions() IS
        'Mentions in a hidden post or question do not quote its title while it is hidden (0045).';

    REVOKE ALL ON FUNCTION public.notifications_drop_subject(), public.notifications_hide_mentions()
        FROM PUBLIC, anon, authenticated, service_role;
    {triggers}
    {hide_triggers}
    """)


def downgrade() -> None:
    drops = "\n".join(f"DROP TRIGGER notifications_drop_subject_{table} ON public.{table};"
                      for table, _ in _KINDS)
    drops += "\n".join(f"\nDROP TRIGGER notifications_hide_mentions_{table} ON public.{table};"
                       for table, _ in _KINDS[:2])
    run_sql(f"""
    {drops}
    DROP FUNCTION public.notifications_hide_mentions();
    DROP FUNCTION public.notifications_drop_subject();
    """)
