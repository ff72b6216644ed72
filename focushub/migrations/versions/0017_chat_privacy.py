"""Chat: what was deleted or edited is gone from the event log; direct rooms have no admin.

Revision ID: 0017_chat_privacy
Revises: 0016_ai_answers

* The room event log (``chat_room_events``) kept every version of a message, so a
  participant replaying from ``last_seq: 0`` read the original text of a message
  after it was edited or deleted (a password pasted by mistake stayed readable).
  Now an edit or a delete rewrites the earlier ``message.created`` and
  ``message.updated`` events of that message to its current state (blank when
  deleted), in the same transaction. A partial index on the message id keeps that
  a lookup, not a scan of the room's log.
* A direct room has two equal members, but both were its admins: either could
  delete the other's messages, rename the room or demote the other. Now, in a
  direct room, each deletes only their own messages, and the room's name,
  description, status and the roles do not change through requests.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0017_chat_privacy"
down_revision = "0016_ai_answers"
branch_labels = None
depends_on = None

_EVENTS = """
    CREATE OR REPLACE FUNCTION chat_message_events() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM chat_append_room_event(NEW.room_id, 'message.created', chat_message_json(NEW));
        ELSIF TG_OP = 'DELETE' THEN
            -- A hard delete (plain SQL; the API soft-deletes) leaves a gap in the
            -- message numbers but still tells subscribers.
            PERFORM chat_append_room_event(OLD.room_id, 'message.deleted',
                chat_message_json(OLD) || jsonb_build_object('content', '', 'file_url', NULL,
                                                             'deleted_at', now()));
            RETURN NULL;
        ELSIF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN{scrub}
            PERFORM chat_append_room_event(NEW.room_id, 'message.deleted', chat_message_json(NEW));
        ELSIF NEW.content IS DISTINCT FROM OLD.content OR NEW.file_url IS DISTINCT FROM OLD.file_url THEN{scrub}
            PERFORM chat_append_room_event(NEW.room_id, 'message.updated', chat_message_json(NEW));
        END IF;
        RETURN NULL;
    END
    $$;
"""

_SCRUB = """
            -- Earlier versions of the message leave the log: replays show it as it is now.
            UPDATE chat_room_events e SET payload = chat_message_json(NEW)
            WHERE e.room_id = NEW.room_id AND e.type IN ('message.created', 'message.updated')
              AND e.payload ->> 'id' = NEW.id::text;"""

_DELETE = """
    CREATE OR REPLACE FUNCTION public.chat_delete_message(p_message_id uuid) RETURNS SETOF chat_messages
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        msg chat_messages;
        attachment uuid;
    BEGIN
        SELECT * INTO msg FROM chat_messages m WHERE m.id = p_message_id;
        IF NOT FOUND OR NOT public.is_room_member(msg.room_id) THEN
            RAISE EXCEPTION 'not_found: no such message';
        END IF;
        IF msg.sender_id IS DISTINCT FROM auth.uid()
           AND public.room_role(msg.room_id) NOT IN ('admin', 'moderator') THEN
            RAISE EXCEPTION 'forbidden: only the sender or a room moderator deletes a message';
        END IF;{direct}
        IF msg.message_type = 'system' THEN
            RAISE EXCEPTION 'forbidden: system messages cannot be deleted';
        END IF;
        IF msg.deleted_at IS NULL THEN
            attachment := msg.file_id;
            UPDATE chat_messages SET content = '', file_url = NULL, file_id = NULL,
                deleted_at = now()
            WHERE id = p_message_id
            RETURNING * INTO msg;
            -- The attachment goes too (its objects are queued for deletion by 0014's trigger).
            DELETE FROM stored_files WHERE id = attachment;
        END IF;
        RETURN NEXT msg;
    END
    $$;
"""

_DIRECT_DELETE = """
        IF msg.sender_id IS DISTINCT FROM auth.uid()
           AND (SELECT r.type FROM chat_rooms r WHERE r.id = msg.room_id) = 'direct' THEN
            RAISE EXCEPTION 'forbidden: in a direct chat each deletes only their own messages';
        END IF;"""

_PARTICIPANT = """
    CREATE OR REPLACE FUNCTION check_participant_update() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NEW.room_id IS DISTINCT FROM OLD.room_id OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            RAISE EXCEPTION 'conflict: a participant cannot move to another room or user';
        END IF;
        IF NEW.last_read_seq < OLD.last_read_seq THEN
            NEW.last_read_seq := OLD.last_read_seq;
        END IF;
        IF current_user NOT IN ('anon', 'authenticated') THEN
            RETURN NEW;
        END IF;
        IF NEW.role IS DISTINCT FROM OLD.role
           AND public.room_role(OLD.room_id) IS DISTINCT FROM 'admin'
        THEN
            RAISE EXCEPTION 'forbidden: only room admins change participant roles';
        END IF;{direct}
        IF (NEW.last_read_at IS DISTINCT FROM OLD.last_read_at
            OR NEW.last_read_seq IS DISTINCT FROM OLD.last_read_seq)
           AND OLD.user_id IS DISTINCT FROM auth.uid()
        THEN
            RAISE EXCEPTION 'forbidden: only the participant moves their own read position';
        END IF;
        RETURN NEW;
    END
    $$;
"""

_DIRECT_ROLE = """
        IF NEW.role IS DISTINCT FROM OLD.role
           AND (SELECT r.type FROM chat_rooms r WHERE r.id = OLD.room_id) = 'direct' THEN
            RAISE EXCEPTION 'forbidden: the two people of a direct chat have no roles to change';
        END IF;"""


def upgrade() -> None:
    run_sql(_EVENTS.format(scrub=_SCRUB) + _DELETE.format(direct=_DIRECT_DELETE)
            + _PARTICIPANT.format(direct=_DIRECT_ROLE) + """
    CREATE INDEX idx_chat_room_events_message ON chat_room_events (room_id, (payload ->> 'id'))
        WHERE type IN ('message.created', 'message.updated');
    DROP POLICY "Room admins can update rooms" ON chat_rooms;
    CREATE POLICY "Room admins can update rooms" ON chat_rooms
        FOR UPDATE TO authenticated
        USING (public.room_role(id) = 'admin' AND type = 'group')
        WITH CHECK (public.room_role(id) = 'admin' AND type = 'group');
    """)


def downgrade() -> None:
    run_sql(_EVENTS.format(scrub="") + _DELETE.format(direct="")
            + _PARTICIPANT.format(direct="") + """
    DROP INDEX idx_chat_room_events_message;
    DROP POLICY "Room admins can update rooms" ON chat_rooms;
    CREATE POLICY "Room admins can update rooms" ON chat_rooms
        FOR UPDATE TO authenticated
        USING (public.room_role(id) = 'admin') WITH CHECK (public.room_role(id) = 'admin');
    """)
