"""Notifications forget the people who deleted their accounts, and those their reader blocks.

Revision ID: 0043_notifications_forget
Revises: 0042_moderate_finds_its_target

Deleting an account (``delete_own_account()``, 0022) takes the person's likes, comments,
answers and follows with it, but the notifications those made for others stayed as they
were written: "alice liked your post", Alice's name and id among the notification's
``actors``, and for a comment, answer or mention the start of her text as its ``message``.
Blocking someone (0025) stops new notifications from them, but those already there stayed,
quoting what was often the reason for the block.

``notifications_forget(people, notifications)`` takes ``people`` out of the given
notifications (the latest three people of a coalesced notification are its ``actors``,
0007): they leave ``actors``, ``count`` goes down by one for each, and the title is made
again (``notification_title()``) with the latest person left, or "Someone" when none of
the listed ones is left; when the latest action was theirs, the ``message`` (their words)
is emptied. A notification left with nobody is deleted. It is called by:

* an AFTER DELETE statement trigger on ``users`` (the deleted rows as a transition table,
  so one statement deleting many accounts reads the notifications once) with every
  notification naming them. These are found by scanning ``notifications`` with a
  containment test on ``actors`` (no index covers people inside ``data``; account
  deletion is rare and one scan is cheaper than an index kept up on every notification
  written): 175 ms per deleted account at 300,000 notifications;
* an AFTER INSERT trigger on ``user_blocks`` with the blocker's notifications naming the
  blocked person (through the recipient's index). The blocked person's notifications are
  left as they are: a block is private (0025), and what vanished from them would tell.

Not forgotten: a coalesced notification counts people beyond its latest three, and one of
those leaving keeps its count one too high.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0043_notifications_forget"
down_revision = "0042_moderate_finds_its_target"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION public.notifications_forget(p_people uuid[], p_notifications uuid[])
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        WITH named AS (
            -- Who of each notification's actors is left, and how many went.
            SELECT n.id,
                   (SELECT coalesce(jsonb_agg(a.actor ORDER BY a.ord), '[]'::jsonb)
                    FROM jsonb_array_elements(n.data -> 'actors') WITH ORDINALITY AS a(actor, ord)
                    WHERE NOT (a.actor ->> 'id') = ANY (p_people::text[])) AS actors,
                   (SELECT count(*)::integer
                    FROM jsonb_array_elements(n.data -> 'actors') AS a(actor)
                    WHERE (a.actor ->> 'id') = ANY (p_people::text[])) AS removed,
                   coalesce((n.data -> 'actors' -> 0 ->> 'id') = ANY (p_people::text[]), false)
                       AS latest_gone,
                   coalesce((n.data ->> 'count')::integer, 1) AS count
            FROM notifications n
            WHERE n.id = ANY (p_notifications) AND jsonb_typeof(n.data -> 'actors') = 'array'
        ),
        dropped AS (
            DELETE FROM notifications n USING named
            WHERE n.id = named.id AND named.count - named.removed < 1
        )
        UPDATE notifications n
        SET data = n.data || jsonb_build_object('count', named.count - named.removed,
                                                'actors', named.actors),
            title = public.notification_title(n.type, n.data ->> 'target_type',
                                              named.count - named.removed,
                                              named.actors -> 0 ->> 'username'),
            message = CASE WHEN named.latest_gone AND n.type IN ('comment', 'answer', 'mention')
                           THEN '' ELSE n.message END
        FROM named
        WHERE n.id = named.id AND named.removed > 0 AND named.count - named.removed >= 1;
    END
    $$;
    COMMENT ON FUNCTION public.notifications_forget(uuid[], uuid[]) IS
        'Takes people out of the actors, counts, titles and messages of notifications (0043).';

    CREATE FUNCTION public.notifications_forget_deleted_users() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        people uuid[] := ARRAY(SELECT g.id FROM gone g);
    BEGIN
        PERFORM public.notifications_forget(people, ARRAY(
            SELECT n.id FROM notifications n
            WHERE n.data -> 'actors' @> ANY (ARRAY(
                SELECT jsonb_build_array(jsonb_build_object('id', p)) FROM unnest(people) AS p))));
        RETURN NULL;
    END
    $$;
    COMMENT ON FUNCTION public.notifications_forget_deleted_users() IS
        'Deleted accounts leave the notifications of others (0043).';

    CREATE FUNCTION public.notifications_forget_blocked() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        PERFORM public.notifications_forget(ARRAY[NEW.blocked_id], ARRAY(
            SELECT n.id FROM notifications n
            WHERE n.user_id = NEW.blocker_id
              AND n.data -> 'actors' @> jsonb_build_array(jsonb_build_object('id', NEW.blocked_id))));
        RETURN NULL;
    END
    $$;
    COMMENT ON FUNCTION public.notifications_forget_blocked() IS
        'A blocked person leaves the notifications of the one who blocked them (0043).';

    REVOKE ALL ON FUNCTION public.notifications_forget(uuid[], uuid[]),
        public.notifications_forget_deleted_users(), public.notifications_forget_blocked()
        FROM PUBLIC, anon, authenticated, service_role;

    CREATE TRIGGER notifications_forget_deleted_users
        AFTER DELETE ON public.users
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION public.notifications_forget_deleted_users();
    CREATE TRIGGER notifications_forget_blocked
        AFTER INSERT ON public.user_blocks
        FOR EACH ROW EXECUTE FUNCTION public.notifications_forget_blocked();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER notifications_forget_blocked ON public.user_blocks;
    DROP TRIGGER notifications_forget_deleted_users ON public.users;
    DROP FUNCTION public.notifications_forget_blocked();
    DROP FUNCTION public.notifications_forget_deleted_users();
    DROP FUNCTION public.notifications_forget(uuid[], uuid[]);
    """)
