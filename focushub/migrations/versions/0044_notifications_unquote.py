"""Notifications quote comments and answers as they are: deleted or hidden ones not at all.

Revision ID: 0044_notifications_unquote
Revises: 0043_notifications_forget

A comment, a reply, an answer or a mention in one is announced with the start of its text
as the notification's ``message`` and its id in ``data`` (``comment_id`` or ``answer_id``,
0007). When the author deleted it, or a moderator did, the notification kept quoting it:
words its author took back, or that a moderator removed, stayed in other people's lists.

Now, when comments or answers are deleted (an AFTER DELETE statement trigger on each,
the deleted rows as a transition table), each notification quoting one of them:

* is deleted when it was about that text alone: a mention in it, or a notification
  whose only action (``count`` 1) is by the text's author;
* otherwise (a coalesced "3 people commented on your post", or an accepted answer's
  notice to its author) loses the quote: ``message`` emptied and the id taken out of
  ``data``, so that nothing links to what is gone. Its count is not lowered (the other
  actions it counts are still there; whether the author made another is not known).

An edited comment or answer is quoted as it now reads, and one a moderator hides is not
quoted while it stays hidden (its readers may not see it; a report reaching the threshold
hides it at once): an AFTER UPDATE OF content, hidden_at row trigger on each sets the
``message`` of the notifications quoting it to the start of the text, or to nothing while
it is hidden. Words taken back by an edit, or hidden as abuse, stay in nobody's list.

The notifications are found through a new partial expression index on the quoted id,
so a deletion costs an index probe per deleted text. It composes with 0043 whatever the
order of the triggers when an account and its comments are deleted together: a
notification is deleted only when its latest actor is still the deleted text's author.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0044_notifications_unquote"
down_revision = "0043_notifications_forget"
branch_labels = None
depends_on = None

_QUOTED = "coalesce(data ->> 'comment_id', data ->> 'answer_id')"


def upgrade() -> None:
    run_sql(f"""
    CREATE INDEX idx_notifications_quoted ON public.notifications (({_QUOTED}))
        WHERE {_QUOTED} IS NOT NULL;

    CREATE FUNCTION public.notifications_unquote_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        WITH quoting AS (
            SELECT n.id,
                   n.type = 'mention'
                   OR (coalesce((n.data ->> 'count')::integer, 1) <= 1
                       AND n.data -> 'actors' -> 0 ->> 'id' = g.author_id::text) AS alone
            FROM gone g
            JOIN notifications n
              ON coalesce(n.data ->> 'comment_id', n.data ->> 'answer_id') = g.id::text
        ),
        dropped AS (
            DELETE FROM notifications n USING quoting q WHERE n.id = q.id AND q.alone
        )
        UPDATE notifications n
        SET message = '', data = n.data - 'comment_id' - 'answer_id'
        FROM quoting q
        WHERE n.id = q.id AND NOT q.alone;
        RETURN NULL;
    END
    $$;
    CREATE FUNCTION public.notifications_requote() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        -- A notification quotes a text's first 200 characters (0007, 0023); nothing of it
        -- while a moderator keeps it hidden (its readers may not see it then).
        quote text := CASE WHEN NEW.hidden_at IS NULL THEN left(NEW.content, 200) ELSE '' END;
    BEGIN
        UPDATE notifications n SET message = quote
        WHERE coalesce(n.data ->> 'comment_id', n.data ->> 'answer_id') = NEW.id::text
          AND n.message IS DISTINCT FROM quote;
        RETURN NULL;
    END
    $$;
    COMMENT ON FUNCTION public.notifications_requote() IS
        'Notifications quoting a comment or answer quote it as it now reads, nothing while hidden (0044).';
    REVOKE ALL ON FUNCTION public.notifications_requote()
        FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER notifications_requote_comments
        AFTER UPDATE OF content, hidden_at ON public.comments
        FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content
                           OR (OLD.hidden_at IS NULL) <> (NEW.hidden_at IS NULL))
        EXECUTE FUNCTION public.notifications_requote();
    CREATE TRIGGER notifications_requote_answers
        AFTER UPDATE OF content, hidden_at ON public.answers
        FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content
                           OR (OLD.hidden_at IS NULL) <> (NEW.hidden_at IS NULL))
        EXECUTE FUNCTION public.notifications_requote();

    COMMENT ON FUNCTION public.notifications_unquote_deleted() IS
        'Notifications quoting deleted comments or answers are deleted or lose the quote (0044).';
    REVOKE ALL ON FUNCTION public.notifications_unquote_deleted()
        FROM PUBLIC, anon, authenticated, service_role;

    CREATE TRIGGER notifications_unquote_deleted_comments
        AFTER DELETE ON public.comments
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION public.notifications_unquote_deleted();
    CREATE TRIGGER notifications_unquote_deleted_answers
        AFTER DELETE ON public.answers
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION public.notifications_unquote_deleted();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER notifications_requote_answers ON public.answers;
    DROP TRIGGER notifications_requote_comments ON public.comments;
    DROP FUNCTION public.notifications_requote();
    DROP TRIGGER notifications_unquote_deleted_answers ON public.answers;
    DROP TRIGGER notifications_unquote_deleted_comments ON public.comments;
    DROP FUNCTION public.notifications_unquote_deleted();
    DROP INDEX public.idx_notifications_quoted;
    """)
