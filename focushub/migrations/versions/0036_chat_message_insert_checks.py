"""A chat message's checks run in one trigger, and each message gets its own time.

Revision ID: 0036_chat_message_insert_checks
Revises: 0035_chat_send_cheaper

* ``chat_message_before_insert()`` also does what the BEFORE INSERT triggers
  ``chat_messages_refuse_across_block`` (0025) and ``chat_messages_require_consent`` (0031)
  did, in the same order and with the same errors: after the room lock, the retry and the
  archived room, ``not_found: no such room`` in a direct room across a block, then
  ``conflict: accept the message request first``. Those two triggers and
  ``chat_messages_require_consent()`` are dropped, and ``refuse_across_block()`` loses its
  ``chat_messages`` branch. The block check reads the room's type from the row the trigger
  has just locked, so a message in a group room no longer joins the participants to the
  rooms to find that it is not a direct one. One trigger call per message instead of three
  (each a SECURITY DEFINER function with its own ``search_path``).
* ``created_at`` is ``clock_timestamp()``, read after the room lock, instead of ``now()``:
  the messages of one group-committed batch (``chat_send_messages()``, 0034) no longer
  share the transaction's start time, and within a room ``created_at`` grows with ``seq``.
  ``chat_rooms.last_activity_at`` stays ``now()``.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0036_chat_message_insert_checks"
down_revision = "0035_chat_send_cheaper"
branch_labels = None
depends_on = None


def _refuse_across_block(with_messages: bool) -> str:
    messages_branch = """
        WHEN 'chat_messages' THEN
            SELECT o.user_id INTO other FROM chat_room_participants o JOIN chat_rooms r
                ON r.id = o.room_id
            WHERE o.room_id = NEW.room_id AND r.type = 'direct' AND o.user_id <> NEW.sender_id
            LIMIT 1;""" if with_messages else ""
    return f"""
    CREATE OR REPLACE FUNCTION public.refuse_across_block() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        other uuid;
        actor uuid := auth.uid();
    BEGIN
        IF actor IS NULL THEN
            RETURN NEW;  -- maintenance and jobs
        END IF;
        CASE TG_TABLE_NAME
        WHEN 'followers' THEN
            other := NEW.following_id;
        WHEN 'comments' THEN
            SELECT p.author_id INTO other FROM posts p WHERE p.id = NEW.post_id;
        WHEN 'chat_room_participants' THEN
            other := NEW.user_id;{messages_branch}
        END CASE;
        IF other IS NOT NULL AND other <> actor AND public.blocked_between(actor, other) THEN
            RAISE EXCEPTION 'not_found: %', CASE TG_TABLE_NAME
                WHEN 'comments' THEN 'no such post'
                WHEN 'chat_messages' THEN 'no such room'
                ELSE 'no such user' END;
        END IF;
        RETURN NEW;
    END
    $$;
    """


def upgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.chat_message_before_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        room record;
        actor uuid := auth.uid();
        other uuid;
    BEGIN
        -- The room's lock orders its messages: seq, and created_at read after it.
        SELECT r.is_active, r.type INTO room FROM chat_rooms r
        WHERE r.id = NEW.room_id FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: no such room';
        END IF;
        IF NEW.idempotency_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM chat_messages m
            WHERE m.sender_id = NEW.sender_id AND m.idempotency_key = NEW.idempotency_key
        ) THEN
            RETURN NULL;  -- a retry: chat_send_message() returns the first one
        END IF;
        IF NOT room.is_active AND NEW.message_type <> 'system' THEN
            RAISE EXCEPTION 'conflict: the room is archived';
        END IF;
        -- Nobody writes to someone across a block in a direct room (0025); maintenance
        -- and jobs (no caller) are not refused.
        IF actor IS NOT NULL AND room.type = 'direct' THEN
            SELECT o.user_id INTO other FROM chat_room_participants o
            WHERE o.room_id = NEW.room_id AND o.user_id <> NEW.sender_id
            LIMIT 1;
            IF other IS NOT NULL AND other <> actor AND public.blocked_between(actor, other) THEN
                RAISE EXCEPTION 'not_found: no such room';
            END IF;
        END IF;
        -- The recipient of a message request answers it before writing in it (0031).
        IF EXISTS (SELECT 1 FROM chat_invitations i
                   WHERE i.room_id = NEW.room_id AND i.user_id = NEW.sender_id) THEN
            RAISE EXCEPTION 'conflict: accept the message request first';
        END IF;
        UPDATE chat_rooms SET last_seq = last_seq + 1, last_activity_at = now()
        WHERE id = NEW.room_id
        RETURNING last_seq INTO NEW.seq;
        NEW.created_at := clock_timestamp();
        NEW.edited_at := NULL;
        NEW.deleted_at := NULL;
        NEW.is_read := false;
        RETURN NEW;
    END
    $$;

    DROP TRIGGER chat_messages_refuse_across_block ON public.chat_messages;
    DROP TRIGGER chat_messages_require_consent ON public.chat_messages;
    DROP FUNCTION public.chat_messages_require_consent();
    """ + _refuse_across_block(with_messages=False))


def downgrade() -> None:
    run_sql(_refuse_across_block(with_messages=True) + """
    CREATE FUNCTION public.chat_messages_require_consent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM chat_invitations i
                   WHERE i.room_id = NEW.room_id AND i.user_id = NEW.sender_id) THEN
            RAISE EXCEPTION 'conflict: accept the message request first';
        END IF;
        RETURN NEW;
    END
    $$;
    REVOKE ALL ON FUNCTION public.chat_messages_require_consent()
        FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER chat_messages_refuse_across_block BEFORE INSERT ON public.chat_messages
        FOR EACH ROW EXECUTE FUNCTION public.refuse_across_block();
    CREATE TRIGGER chat_messages_require_consent BEFORE INSERT ON public.chat_messages
        FOR EACH ROW EXECUTE FUNCTION public.chat_messages_require_consent();

    CREATE OR REPLACE FUNCTION public.chat_message_before_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        active boolean;
    BEGIN
        SELECT r.is_active INTO active FROM chat_rooms r WHERE r.id = NEW.room_id FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: no such room';
        END IF;
        IF NEW.idempotency_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM chat_messages m
            WHERE m.sender_id = NEW.sender_id AND m.idempotency_key = NEW.idempotency_key
        ) THEN
            RETURN NULL;
        END IF;
        IF NOT active AND NEW.message_type <> 'system' THEN
            RAISE EXCEPTION 'conflict: the room is archived';
        END IF;
        UPDATE chat_rooms SET last_seq = last_seq + 1, last_activity_at = now()
        WHERE id = NEW.room_id
        RETURNING last_seq INTO NEW.seq;
        NEW.created_at := now();
        NEW.edited_at := NULL;
        NEW.deleted_at := NULL;
        NEW.is_read := false;
        RETURN NEW;
    END
    $$;
    """)
