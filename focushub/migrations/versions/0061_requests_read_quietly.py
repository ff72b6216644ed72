"""Reading a message request tells its opener nothing until it is accepted.

Revision ID: 0061_requests_read_quietly
Revises: 0060_joiners_start_read

A message request (0031) is a direct room whose recipient is a participant with an
invitation beside: readable, answerable only after accepting. ``chat_mark_read()`` (0008)
moved the recipient's read position like anyone's, so opening the request marked the
opener's messages "seen" (``is_read``, ``read.updated``): a receipt telling a stranger that
the message arrived and was read, which accepting or declining was meant to decide. While
the caller's invitation to the room stands (pending, or declined and kept), the function
now moves nothing and answers the position as it is; once the request is accepted, reading
marks as before.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0061_requests_read_quietly"
down_revision = "0060_joiners_start_read"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION public.chat_mark_read(p_room_id uuid, p_seq bigint)
    RETURNS TABLE(last_read_seq bigint, unread_count bigint)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
AS $function${body}$function$;
"""

BEFORE = """
    DECLARE
        pos bigint;
    BEGIN
        UPDATE chat_room_participants p
           SET last_read_seq = greatest(p.last_read_seq,
                                        least(coalesce(p_seq, r.last_seq), r.last_seq)),
               last_read_at = now()
          FROM chat_rooms r
         WHERE r.id = p.room_id AND p.room_id = p_room_id AND p.user_id = auth.uid()
        RETURNING p.last_read_seq INTO pos;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: no such room';
        END IF;
        RETURN QUERY
            SELECT pos, count(*) FROM chat_messages u
            WHERE u.room_id = p_room_id AND u.seq > pos AND u.sender_id <> auth.uid()
              AND u.deleted_at IS NULL AND u.message_type <> 'system';
    END
    """

AFTER = """
    DECLARE
        pos bigint;
    BEGIN
        IF EXISTS (SELECT 1 FROM chat_invitations i
                   WHERE i.room_id = p_room_id AND i.user_id = auth.uid()) THEN
            -- A message request not accepted: its reading is no receipt for its opener.
            SELECT p.last_read_seq INTO pos FROM chat_room_participants p
            WHERE p.room_id = p_room_id AND p.user_id = auth.uid();
        ELSE
            UPDATE chat_room_participants p
               SET last_read_seq = greatest(p.last_read_seq,
                                            least(coalesce(p_seq, r.last_seq), r.last_seq)),
                   last_read_at = now()
              FROM chat_rooms r
             WHERE r.id = p.room_id AND p.room_id = p_room_id AND p.user_id = auth.uid()
            RETURNING p.last_read_seq INTO pos;
        END IF;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: no such room';
        END IF;
        RETURN QUERY
            SELECT pos, count(*) FROM chat_messages u
            WHERE u.room_id = p_room_id AND u.seq > pos AND u.sender_id <> auth.uid()
              AND u.deleted_at IS NULL AND u.message_type <> 'system';
    END
    """


def upgrade() -> None:
    run_sql(FUNCTION.format(body=AFTER))


def downgrade() -> None:
    run_sql(FUNCTION.format(body=BEFORE))
