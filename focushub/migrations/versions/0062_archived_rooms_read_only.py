"""An archived room is read-only: no edits, no new attachments; deleting one's words stays.

Revision ID: 0062_archived_rooms_read_only
Revises: 0061_requests_read_quietly

An archived room (a direct chat whose other person deleted their account, 0022) refused new
messages (0008), but its messages could still be edited, and a file could still be uploaded
for it (201), though it could never be sent and was swept a day later. Now, for a request's
caller, ``chat_message_before_update()`` refuses an edit of a message in an archived room
(``conflict: the room is archived``, as a new message is refused), and the upload policy of
``stored_files`` asks for an active room. Deleting one's own message stays possible: taking
one's words back is not writing new ones.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0062_archived_rooms_read_only"
down_revision = "0061_requests_read_quietly"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION public.chat_message_before_update()
    RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        IF NEW.seq IS DISTINCT FROM OLD.seq OR NEW.room_id IS DISTINCT FROM OLD.room_id THEN
            RAISE EXCEPTION 'conflict: a message keeps its room and sequence number';
        END IF;
        IF current_user IN ('anon', 'authenticated') AND NEW.content IS DISTINCT FROM OLD.content THEN
            IF OLD.deleted_at IS NOT NULL THEN
                RAISE EXCEPTION 'conflict: a deleted message cannot be edited';
            END IF;
            IF OLD.message_type = 'system' THEN
                RAISE EXCEPTION 'forbidden: system messages cannot be edited';
            END IF;{archived}
        END IF;
        IF NEW.content IS DISTINCT FROM OLD.content AND NEW.deleted_at IS NULL THEN
            NEW.edited_at := now();
        END IF;
        RETURN NEW;
    END
    $function$;
"""

ARCHIVED = """
            IF NEW.deleted_at IS NULL
               AND NOT (SELECT r.is_active FROM chat_rooms r WHERE r.id = OLD.room_id) THEN
                RAISE EXCEPTION 'conflict: the room is archived';
            END IF;"""

UPLOADS = """
ALTER POLICY "Users can upload files" ON public.stored_files
    WITH CHECK (owner_id = auth.uid() AND (room_id IS NULL OR ({room})));
"""
ROOM_BEFORE = "is_room_member(room_id)"
ROOM_AFTER = ("is_room_member(room_id) AND EXISTS (SELECT 1 FROM public.chat_rooms r"
              " WHERE r.id = stored_files.room_id AND r.is_active)")


def upgrade() -> None:
    run_sql(FUNCTION.format(archived=ARCHIVED))
    run_sql(UPLOADS.format(room=ROOM_AFTER))


def downgrade() -> None:
    run_sql(FUNCTION.format(archived=""))
    run_sql(UPLOADS.format(room=ROOM_BEFORE))
