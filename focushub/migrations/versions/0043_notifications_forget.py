"""Notifications forget the people who deleted their accounts.

Revision ID: 0043_notifications_forget
Revises: 0042_moderate_finds_its_target

Deleting an account (``delete_own_account()``, 0022) takes the person's likes, comments,
answers and follows with it, but the notifications those made for others stayed as they
were written: "alice liked your post", Alice's name and id among the notification's
``actors``, and for a comment, answer or mention the start of her text as its ``message``.

Now, when users are deleted, each notification naming one of them among its ``actors``
(the latest three people of a coalesced notification, 0007) loses them: they leave
``actors``, ``count`` goes down by one for each, and the title is made again
(``notification_title()``) with the latest person left, or "Someone" when none of the
listed ones is left; when the latest action was theirs, the ``message`` (their words) is
emptied. A notification left with nobody is deleted. An AFTER DELETE statement trigger on
``users`` does it with the deleted rows as a transition table, so one statement deleting
many accounts reads the notifications once. It finds them by scanning ``notifications``
with a containment test on ``actors`` (no index covers people inside ``data``; account
deletion is rare and one scan is cheaper than an index kept up on every notification
written): 175 ms per deleted account at 300,000 notifications.

Not forgotten: a coalesced notification counts people beyond its latest three, and one of
those deleting their account leaves its count one too high.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0043_notifications_forget"
down_revision = "0042_moderate_finds_its_target"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION public.notifications_forget_deleted_users() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        WITH named AS (
            -- Each notification naming a deleted person: who of its actors is left.
            SELECT n.id, n.type, n.data,
                   (SELECT coalesce(jsonb_agg(a.actor ORDER BY a.ord), '[]'::jsonb)
                    FROM jsonb_array_elements(n.data -> 'actors') WITH ORDINALITY AS a(actor, ord)
                    WHERE NOT EXISTS (SELECT 1 FROM gone g WHERE g.id::text = a.actor ->> 'id'))
                       AS actors,
                   (SELECT count(*)::integer
                    FROM jsonb_array_elements(n.data -> 'actors') AS a(actor)
                    JOIN gone g ON g.id::text = a.actor ->> 'id') AS removed,
                   EXISTS (SELECT 1 FROM gone g
                           WHERE g.id::text = n.data -> 'actors' -> 0 ->> 'id') AS latest_gone
            FROM notifications n
            WHERE n.data -> 'actors' @> ANY (ARRAY(
                SELECT jsonb_build_array(jsonb_build_object('id', g.id)) FROM gone g))
        ),
        left_over AS (
            SELECT named.*,
                   coalesce((named.data ->> 'count')::integer, 1) - named.removed AS remaining
            FROM named
        ),
        dropped AS (
            DELETE FROM notifications n USING left_over l
            WHERE n.id = l.id AND l.remaining < 1
        )
        UPDATE notifications n
        SET data = n.data || jsonb_build_object('count', l.remaining, 'actors', l.actors),
            title = public.notification_title(n.type, n.data ->> 'target_type', l.remaining,
                                              l.actors -> 0 ->> 'username'),
            message = CASE WHEN l.latest_gone AND n.type IN ('comment', 'answer', 'mention')
                           THEN '' ELSE n.message END
        FROM left_over l
        WHERE n.id = l.id AND l.remaining >= 1;
        RETURN NULL;
    END
    $$;
    COMMENT ON FUNCTION public.notifications_forget_deleted_users() IS
        'Deleted accounts leave the actors, counts, titles and messages of others'' notifications (0043).';
    REVOKE ALL ON FUNCTION public.notifications_forget_deleted_users()
        FROM PUBLIC, anon, authenticated, service_role;

    CREATE TRIGGER notifications_forget_deleted_users
        AFTER DELETE ON public.users
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION public.notifications_forget_deleted_users();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER notifications_forget_deleted_users ON public.users;
    DROP FUNCTION public.notifications_forget_deleted_users();
    """)
