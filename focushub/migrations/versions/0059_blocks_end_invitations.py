"""A block withdraws the group invitations between the two people.

Revision ID: 0059_blocks_end_invitations
Revises: 0058_reply_to_visible_parent

Nobody adds someone across a block (0025), but a group invitation sent before the block
stayed: the invitee still saw it, with the inviter's name, and accepting it made them a
member, since then the invitee is the one acting and nobody is added across a block.
``user_blocks_after_insert()`` (0025), which already ends the follows between the two, now
also deletes the pending group invitations either of them sent the other, and
``chat_accept_invitation()`` (0031) takes an invitation whose sender is across a block from
the invitee (a block and an acceptance racing) as one that is not there: it is deleted and
nobody joins. A message request is
not touched: its invitation is the request itself, and a block already refuses the
messages of a direct room.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0059_blocks_end_invitations"
down_revision = "0058_reply_to_visible_parent"
branch_labels = None
depends_on = None

BLOCK = """
CREATE OR REPLACE FUNCTION public.user_blocks_after_insert()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        DELETE FROM followers
        WHERE (follower_id = NEW.blocker_id AND following_id = NEW.blocked_id)
           OR (follower_id = NEW.blocked_id AND following_id = NEW.blocker_id);{invitations}
        RETURN NULL;
    END
    $function$;
"""

INVITATIONS = """
        DELETE FROM chat_invitations i
        USING chat_rooms r
        WHERE r.id = i.room_id AND r.type = 'group'
          AND ((i.user_id = NEW.blocked_id AND i.invited_by = NEW.blocker_id)
               OR (i.user_id = NEW.blocker_id AND i.invited_by = NEW.blocked_id));"""

ACCEPT = """
CREATE OR REPLACE FUNCTION public.chat_accept_invitation(p_room_id uuid)
    RETURNS boolean
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        inv chat_invitations;
    BEGIN
        DELETE FROM chat_invitations i WHERE i.room_id = p_room_id AND i.user_id = auth.uid()
        RETURNING * INTO inv;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        IF (SELECT r.type FROM chat_rooms r WHERE r.id = p_room_id) = 'group' THEN{refuse}
            INSERT INTO chat_room_participants (room_id, user_id, role)
            VALUES (p_room_id, inv.user_id, inv.role)
            ON CONFLICT (room_id, user_id) DO NOTHING;
        END IF;
        RETURN true;
    END
    $function$;
"""

REFUSE = """
            IF inv.invited_by IS NOT NULL
               AND public.blocked_between(inv.invited_by, inv.user_id) THEN
                RETURN false;  -- gone, as the block's trigger would have taken it
            END IF;"""


def upgrade() -> None:
    run_sql(BLOCK.format(invitations=INVITATIONS))
    run_sql(ACCEPT.format(refuse=REFUSE))


def downgrade() -> None:
    run_sql(BLOCK.format(invitations=""))
    run_sql(ACCEPT.format(refuse=""))
