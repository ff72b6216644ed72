"""Someone joining a group starts with its history read.

Revision ID: 0060_joiners_start_read
Revises: 0059_blocks_end_invitations

A participant's ``last_read_seq`` (0008) started at 0, so whoever joined a group (added by a
member they follow, or accepting an invitation) found every earlier message of it unread, a
class's whole term at once, and the room's earlier messages lost their "seen by everyone"
(``is_read``) until the newcomer opened it. A BEFORE INSERT trigger on
``chat_room_participants`` (``set_joiner_read_position_trigger``, named to run after the
checks) now starts a group's new participant at the room's ``last_seq``: what comes after
they join is unread, what came before is history. Direct rooms keep 0: a message request's
recipient, and the other person of a new direct chat, have its messages to read.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0060_joiners_start_read"
down_revision = "0059_blocks_end_invitations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION public.set_joiner_read_position() RETURNS trigger
        LANGUAGE plpgsql
        SECURITY DEFINER
        SET search_path = public, pg_temp
    AS $function$
        DECLARE
            kind room_type;
            seq bigint;
        BEGIN
            SELECT r.type, r.last_seq INTO kind, seq FROM chat_rooms r WHERE r.id = NEW.room_id;
            IF kind = 'group' THEN
                NEW.last_read_seq := greatest(NEW.last_read_seq, seq);
            END IF;
            RETURN NEW;
        END
    $function$;
    REVOKE ALL ON FUNCTION public.set_joiner_read_position()
        FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER set_joiner_read_position_trigger BEFORE INSERT ON public.chat_room_participants
        FOR EACH ROW EXECUTE FUNCTION public.set_joiner_read_position();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER set_joiner_read_position_trigger ON public.chat_room_participants;
    DROP FUNCTION public.set_joiner_read_position();
    """)
