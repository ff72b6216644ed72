"""Files in chat: attachments uploaded to a room, sent as image and file messages.

Revision ID: 0015_chat_attachments
Revises: 0014_stored_files

* ``stored_files.room_id``: an attachment belongs to one room (and goes with
  it). Only a participant may upload to a room, and only participants may read
  its attachments.
* ``chat_messages.file_id``: the attachment an image or file message carries
  (each attachment in at most one message). ``chat_send_message`` now takes the
  attachment's id instead of a URL: it must be the sender's own upload to this
  room (an ``image`` message needs an image), and the message's ``file_url``
  becomes the attachment's stable API path. A URL chosen by the client is no
  longer accepted, and request roles lose INSERT on ``chat_messages.file_url``
  (a message with a file is written only by the function). Deleting the message
  deletes the attachment.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0015_chat_attachments"
down_revision = "0014_stored_files"
branch_labels = None
depends_on = None

_DELETE_MESSAGE = """
    CREATE OR REPLACE FUNCTION public.chat_delete_message(p_message_id uuid) RETURNS SETOF chat_messages
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        msg chat_messages;{declare}
    BEGIN
        SELECT * INTO msg FROM chat_messages m WHERE m.id = p_message_id;
        IF NOT FOUND OR NOT public.is_room_member(msg.room_id) THEN
            RAISE EXCEPTION 'not_found: no such message';
        END IF;
        IF msg.sender_id IS DISTINCT FROM auth.uid()
           AND public.room_role(msg.room_id) NOT IN ('admin', 'moderator') THEN
            RAISE EXCEPTION 'forbidden: only the sender or a room moderator deletes a message';
        END IF;
        IF msg.message_type = 'system' THEN
            RAISE EXCEPTION 'forbidden: system messages cannot be deleted';
        END IF;
        IF msg.deleted_at IS NULL THEN{body}
        END IF;
        RETURN NEXT msg;
    END
    $$;
"""

_OLD_DELETE_BODY = """
            UPDATE chat_messages SET content = '', file_url = NULL, deleted_at = now()
            WHERE id = p_message_id
            RETURNING * INTO msg;"""

_NEW_DELETE_BODY = """
            attachment := msg.file_id;
            UPDATE chat_messages SET content = '', file_url = NULL, file_id = NULL,
                deleted_at = now()
            WHERE id = p_message_id
            RETURNING * INTO msg;
            -- The attachment goes too (its objects are queued for deletion by 0014's trigger).
            DELETE FROM stored_files WHERE id = attachment;"""


def upgrade() -> None:
    run_sql("""
    ALTER TABLE public.stored_files
        ADD COLUMN room_id uuid REFERENCES public.chat_rooms(id) ON DELETE CASCADE,
        ADD CONSTRAINT stored_files_room_check CHECK ((purpose = 'attachment') = (room_id IS NOT NULL));
    CREATE INDEX idx_stored_files_room ON public.stored_files (room_id) WHERE room_id IS NOT NULL;
    GRANT INSERT (room_id) ON public.stored_files TO authenticated;
    DROP POLICY "Users can upload files" ON public.stored_files;
    CREATE POLICY "Users can upload files" ON public.stored_files
        FOR INSERT TO authenticated
        WITH CHECK (owner_id = auth.uid() AND (room_id IS NULL OR public.is_room_member(room_id)));
    CREATE POLICY "Participants can view room attachments" ON public.stored_files
        FOR SELECT TO authenticated
        USING (purpose = 'attachment' AND public.is_room_member(room_id));

    ALTER TABLE public.chat_messages
        ADD COLUMN file_id uuid UNIQUE REFERENCES public.stored_files(id) ON DELETE SET NULL;
    -- A message's file comes only through chat_send_message (an attachment, by id).
    REVOKE INSERT (file_url) ON public.chat_messages FROM authenticated;

    DROP FUNCTION public.chat_send_message(uuid, text, message_type, text, text);
    CREATE FUNCTION public.chat_send_message(
        p_room_id uuid, p_content text, p_message_type message_type, p_file_id uuid,
        p_idempotency_key text
    ) RETURNS SETOF chat_messages
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        msg chat_messages;
        attachment stored_files;
        url text;
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to send messages';
        END IF;
        IF NOT public.is_room_member(p_room_id) THEN
            RAISE EXCEPTION 'not_found: no such room';
        END IF;
        IF p_message_type = 'system' THEN
            RAISE EXCEPTION 'validation_error: system messages are posted by the server';
        END IF;
        IF p_message_type IN ('image', 'file') THEN
            SELECT * INTO attachment FROM stored_files f
            WHERE f.id = p_file_id AND f.purpose = 'attachment' AND f.room_id = p_room_id
              AND f.owner_id = auth.uid();
            IF NOT FOUND THEN
                RAISE EXCEPTION 'not_found: no such attachment of yours in this room';
            END IF;
            IF p_message_type = 'image' AND attachment.content_type NOT LIKE 'image/%' THEN
                RAISE EXCEPTION 'validation_error: an image message carries an image';
            END IF;
            url := '/api/v1/chat/rooms/' || p_room_id || '/attachments/' || p_file_id;
        ELSIF p_file_id IS NOT NULL THEN
            RAISE EXCEPTION 'validation_error: only image and file messages carry a file';
        END IF;
        INSERT INTO chat_messages (room_id, sender_id, content, message_type, file_url, file_id,
                                   idempotency_key)
        VALUES (p_room_id, auth.uid(), p_content, p_message_type, url, p_file_id,
                p_idempotency_key)
        RETURNING * INTO msg;
        IF msg.id IS NULL THEN  -- a retry: the insert trigger skipped it
            SELECT * INTO msg FROM chat_messages m
            WHERE m.sender_id = auth.uid() AND m.idempotency_key = p_idempotency_key;
            IF msg.room_id IS DISTINCT FROM p_room_id THEN
                RAISE EXCEPTION 'conflict: this idempotency key was used in another room';
            END IF;
        END IF;
        RETURN NEXT msg;
    END
    $$;
    REVOKE ALL ON FUNCTION public.chat_send_message(uuid, text, message_type, uuid, text)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.chat_send_message(uuid, text, message_type, uuid, text)
        TO authenticated;
    """ + _DELETE_MESSAGE.format(declare="\n        attachment uuid;", body=_NEW_DELETE_BODY))


def downgrade() -> None:
    run_sql(_DELETE_MESSAGE.format(declare="", body=_OLD_DELETE_BODY) + """
    DROP FUNCTION public.chat_send_message(uuid, text, message_type, uuid, text);
    CREATE FUNCTION public.chat_send_message(
        p_room_id uuid, p_content text, p_message_type message_type, p_file_url text,
        p_idempotency_key text
    ) RETURNS SETOF chat_messages
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        msg chat_messages;
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to send messages';
        END IF;
        IF NOT public.is_room_member(p_room_id) THEN
            RAISE EXCEPTION 'not_found: no such room';
        END IF;
        IF p_message_type = 'system' THEN
            RAISE EXCEPTION 'validation_error: system messages are posted by the server';
        END IF;
        INSERT INTO chat_messages (room_id, sender_id, content, message_type, file_url, idempotency_key)
        VALUES (p_room_id, auth.uid(), p_content, p_message_type, p_file_url, p_idempotency_key)
        RETURNING * INTO msg;
        IF msg.id IS NULL THEN  -- a retry: the insert trigger skipped it
            SELECT * INTO msg FROM chat_messages m
            WHERE m.sender_id = auth.uid() AND m.idempotency_key = p_idempotency_key;
            IF msg.room_id IS DISTINCT FROM p_room_id THEN
                RAISE EXCEPTION 'conflict: this idempotency key was used in another room';
            END IF;
        END IF;
        RETURN NEXT msg;
    END
    $$;
    REVOKE ALL ON FUNCTION public.chat_send_message(uuid, text, message_type, text, text)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.chat_send_message(uuid, text, message_type, text, text)
        TO authenticated;
    ALTER TABLE public.chat_messages DROP COLUMN file_id;
    GRANT INSERT (file_url) ON public.chat_messages TO authenticated;
    DROP POLICY "Participants can view room attachments" ON public.stored_files;
    DROP POLICY "Users can upload files" ON public.stored_files;
    CREATE POLICY "Users can upload files" ON public.stored_files
        FOR INSERT TO authenticated WITH CHECK (owner_id = auth.uid());
    REVOKE INSERT (room_id) ON public.stored_files FROM authenticated;
    DROP INDEX public.idx_stored_files_room;
    ALTER TABLE public.stored_files DROP CONSTRAINT stored_files_room_check, DROP COLUMN room_id;
    """)
