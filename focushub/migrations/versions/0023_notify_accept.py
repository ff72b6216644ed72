"""Notifications: the author of an accepted answer hears of it; actors carry their avatar.

Revision ID: 0023_notify_accept
Revises: 0022_account_deletion

* ``notify_on_accept_trigger`` (AFTER UPDATE OF is_accepted ON answers): when an
  answer becomes accepted, its author gets an ``answer`` notification about the
  answer ("alice accepted your answer"), from the asker, under their ``on_answer``
  preference. Withdrawing an acceptance tells nobody.
* ``notify()`` puts the actor's ``avatar_url`` beside their id and username in
  ``data.actors``, so a client draws the list without a lookup per actor.
* ``notification_title()`` words the accepted case.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0023_notify_accept"
down_revision = "0022_account_deletion"
branch_labels = None
depends_on = None

# The two functions as 0007 wrote them (downgrade restores them word for word);
# upgrade() applies the edits below to them.
_TITLE_BEFORE = """
    CREATE OR REPLACE FUNCTION public.notification_title(
        p_type notification_type, p_target_type text, p_count integer, p_actor text
    ) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp
    AS $$
        SELECT CASE WHEN p_count > 1 THEN p_count::text || ' people'
                    ELSE coalesce(p_actor, 'Someone') END
            || ' '
            || CASE p_type
                WHEN 'like' THEN
                    CASE WHEN p_target_type IN ('question', 'answer') THEN 'upvoted your '
                         ELSE 'liked your ' END || p_target_type
                WHEN 'comment' THEN
                    CASE WHEN p_target_type = 'comment' THEN 'replied to your comment'
                         ELSE 'commented on your ' || p_target_type END
                WHEN 'follow' THEN 'started following you'
                WHEN 'answer' THEN 'answered your question'
                WHEN 'mention' THEN
                    'mentioned you in ' || CASE WHEN p_target_type = 'answer' THEN 'an ' ELSE 'a ' END
                    || p_target_type
                ELSE 'sent you a notification'
            END
    $$;
"""
_NOTIFY_BEFORE = """
    CREATE OR REPLACE FUNCTION public.notify(
        p_recipient uuid,
        p_actor uuid,
        p_type notification_type,
        p_target_type text,
        p_target_id uuid,
        p_message text,
        p_extra jsonb DEFAULT '{}'::jsonb
    ) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        enabled boolean;
        actor jsonb;
        actor_name text;
    BEGIN
        IF p_recipient IS NULL OR p_recipient = p_actor THEN
            RETURN;
        END IF;
        SELECT CASE p_type
                   WHEN 'like' THEN np.on_like
                   WHEN 'comment' THEN np.on_comment
                   WHEN 'follow' THEN np.on_follow
                   WHEN 'answer' THEN np.on_answer
                   WHEN 'mention' THEN np.on_mention
                   WHEN 'system' THEN np.on_system
               END
          INTO enabled
          FROM notification_preferences np WHERE np.user_id = p_recipient;
        IF enabled IS FALSE THEN  -- no row: every type is on
            RETURN;
        END IF;

        SELECT u.username INTO actor_name FROM users u WHERE u.id = p_actor;
        actor := CASE WHEN p_actor IS NULL THEN NULL
                      ELSE jsonb_build_object('id', p_actor, 'username', actor_name) END;

        INSERT INTO notifications AS n (user_id, type, title, message, data)
        VALUES (
            p_recipient,
            p_type,
            public.notification_title(p_type, p_target_type, 1, actor_name),
            left(coalesce(p_message, ''), 500),
            coalesce(p_extra, '{}'::jsonb) || jsonb_build_object(
                'target_type', p_target_type,
                'target_id', p_target_id,
                'count', 1,
                'actors', CASE WHEN actor IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(actor) END
            )
        )
        ON CONFLICT (user_id, type, (data ->> 'target_type'), (data ->> 'target_id')) WHERE NOT is_read
        DO UPDATE SET (data, title, message, created_at) = (
            SELECT merged,
                   public.notification_title(n.type, p_target_type, (merged ->> 'count')::integer,
                                             actor_name),
                   EXCLUDED.message,
                   now()
            FROM public.notification_merge(n.data, actor, coalesce(p_extra, '{}'::jsonb)) AS merged
        );
    END
    $$;
"""
_TITLE_EDITS = [
    ("                WHEN 'answer' THEN 'answered your question'\n",
     "                WHEN 'answer' THEN\n                    CASE WHEN p_target_type = 'answer' THEN 'accepted your answer'\n                         ELSE 'answered your question' END\n"),
]
_NOTIFY_EDITS = [
    ("        SELECT u.username INTO actor_name FROM users u WHERE u.id = p_actor;\n        actor := CASE WHEN p_actor IS NULL THEN NULL\n                      ELSE jsonb_build_object('id', p_actor, 'username', actor_name) END;",
     "        SELECT u.username, u.avatar_url INTO actor_name, actor_avatar FROM users u WHERE u.id = p_actor;\n        actor := CASE WHEN p_actor IS NULL THEN NULL\n                      ELSE jsonb_build_object('id', p_actor, 'username', actor_name,\n                                              'avatar_url', actor_avatar) END;"),
    ('        actor_name text;\n    BEGIN',
     '        actor_name text;\n        actor_avatar text;\n    BEGIN'),
]


def _edited(sql: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        assert old in sql, old
        sql = sql.replace(old, new)
    return sql


def upgrade() -> None:
    run_sql(_edited(_TITLE_BEFORE, _TITLE_EDITS) + _edited(_NOTIFY_BEFORE, _NOTIFY_EDITS) + """
    CREATE FUNCTION notify_on_accept() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        asker uuid;
    BEGIN
        SELECT q.author_id INTO asker FROM questions q WHERE q.id = NEW.question_id;
        PERFORM public.notify(NEW.author_id, asker, 'answer', 'answer', NEW.id,
                              left(NEW.content, 200),
                              jsonb_build_object('question_id', NEW.question_id,
                                                 'answer_id', NEW.id, 'accepted', true));
        RETURN NULL;
    END
    $$;
    REVOKE ALL ON FUNCTION notify_on_accept() FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER notify_on_accept_trigger
        AFTER UPDATE OF is_accepted ON answers
        FOR EACH ROW WHEN (NEW.is_accepted AND NOT OLD.is_accepted)
        EXECUTE FUNCTION notify_on_accept();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER notify_on_accept_trigger ON answers;
    DROP FUNCTION notify_on_accept();
    """ + _TITLE_BEFORE + _NOTIFY_BEFORE)
