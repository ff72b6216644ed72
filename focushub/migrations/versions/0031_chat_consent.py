"""Consent for rooms: group invitations and direct message requests.

Revision ID: 0031_chat_consent
Revises: 0030_bookkeeping_privileges

Until now ``chat_room_participants_require_consent`` (0028) refused adding someone whose
``dm_from`` is ``following`` and who does not follow the adder, and let everyone else be
added to any group and messaged by anyone. Now consent is asked for instead:

* ``chat_invitations (room_id, user_id, invited_by, role, created_at, declined_at)``: a
  consent not (yet) given by ``user_id`` for ``room_id``. The same BEFORE INSERT trigger
  decides, whatever path inserts the membership (the API, plain SQL, a function):
  - **group**: adding someone who does not follow the adder inserts an invitation and no
    participant row (the trigger returns NULL). The invited person is not a participant, so
    every rule over ``is_room_member()`` (messages, events, attachments, the participant
    list, admin promotion, read receipts) keeps them out without a change. Only room admins
    invite: the participant INSERT policy is not consulted for a row that is not inserted,
    so the trigger checks it (and fails with the policy's SQLSTATE 42501).
  - **direct**: opening a chat with someone who does not follow the opener still refuses
    when their ``dm_from`` is ``following`` (403, as 0028); otherwise the room is made with
    both people (a direct room keeps its two participants and its pair key) and the
    recipient gets an invitation row beside their participant row: a *message request*. The
    recipient reads it but may not write in it until they accept; the API lists it apart
    from their rooms, with no unread count.
  - someone who follows the adder is added at once, and a pending invitation of theirs for
    that room goes.
* ``chat_accept_invitation(room)``: the invitee's own consent. A group invitation becomes
  a membership with the role it was made with; a message request becomes a normal direct
  chat. False when there is nothing to accept (so two concurrent acceptances both succeed).
* ``chat_decline_invitation(room)``: a group invitation is deleted (its inviter sees it
  disappear from the room's invitations, nothing more); a message request is kept as
  declined (``declined_at``): it leaves the recipient's lists, the opener is not told and may
  still write into the room, where only the opener reads. Opening a chat with the opener
  later (or accepting) makes it a normal chat again, history included.
* A pending or declined message request's recipient cannot send into it
  (``chat_messages_require_consent``, 409 ``conflict``).
* The trigger notes each new invitation and request in a transaction-local setting
  (``chat_note_invitation``), which the server's before-commit hook reads: the invitee to a
  group gets ``invitation.created`` live, a request's recipient gets no ``participant.added``.

RLS on ``chat_invitations``: the invitee sees their rows (and, through
``is_room_invitee()``, the room's row: its name and description); the members of a group room see
its invitations, and its admins withdraw them (DELETE); the opener of a direct chat sees
nothing of the request (neither its state nor its decline). Nothing else writes the table:
invitations come from the trigger, answers through the two functions.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0031_chat_consent"
down_revision = "0030_bookkeeping_privileges"
branch_labels = None
depends_on = None

# require_chat_consent() as 0028 made it (the downgrade restores it word for word).
_CONSENT_0028 = """
    CREATE OR REPLACE FUNCTION public.require_chat_consent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        actor uuid := auth.uid();
    BEGIN
        IF actor IS NULL OR NEW.user_id = actor THEN
            RETURN NEW;
        END IF;
        IF EXISTS (SELECT 1 FROM user_privacy p WHERE p.user_id = NEW.user_id
                   AND p.dm_from = 'following')
           AND NOT EXISTS (SELECT 1 FROM followers f WHERE f.follower_id = NEW.user_id
                           AND f.following_id = actor) THEN
            RAISE EXCEPTION 'forbidden: this person accepts chats only from people they follow';
        END IF;
        RETURN NEW;
    END
    $$;
"""


def upgrade() -> None:
    run_sql("""
    -- Remembers, in a transaction-local setting, the invitations and requests the calling
    -- transaction made, for the server's before-commit hook: it tells an invitee live and
    -- keeps a request's recipient from being told (focushub/chat/events.py). A forged
    -- setting changes only what the forger's own transaction publishes.
    CREATE FUNCTION public.chat_note_invitation(p_room_id uuid, p_user_id uuid, p_kind text)
    RETURNS void
    LANGUAGE sql SET search_path = public, pg_temp
    AS $$
        SELECT set_config('focushub.tx_invitations',
                          coalesce(current_setting('focushub.tx_invitations', true), '')
                          || p_kind || ':' || p_room_id::text || ':' || p_user_id::text || ',',
                          true)
    $$;

    CREATE TABLE public.chat_invitations (
        room_id uuid NOT NULL REFERENCES public.chat_rooms(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        invited_by uuid REFERENCES public.users(id) ON DELETE SET NULL,
        role participant_role NOT NULL DEFAULT 'member',
        created_at timestamptz NOT NULL DEFAULT now(),
        declined_at timestamptz,
        PRIMARY KEY (room_id, user_id)
    );
    COMMENT ON TABLE public.chat_invitations IS
        'Consent asked of user_id for room_id: a group invitation (not yet a participant) or, '
        'beside the participant row of a direct room, a message request.';
    COMMENT ON COLUMN public.chat_invitations.declined_at IS
        'Message requests only: declined then (hidden from the recipient; the opener is not told).';
    CREATE INDEX idx_chat_invitations_user ON public.chat_invitations (user_id, created_at DESC);
    ALTER TABLE public.chat_invitations ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.chat_invitations FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT, DELETE ON public.chat_invitations TO authenticated;
    GRANT ALL ON public.chat_invitations TO service_role;
    CREATE POLICY "Invitees can view their invitations" ON public.chat_invitations
        FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
    CREATE POLICY "Group members can view the room's invitations" ON public.chat_invitations
        FOR SELECT TO authenticated
        USING (public.is_room_member(room_id)
               AND EXISTS (SELECT 1 FROM public.chat_rooms r
                           WHERE r.id = room_id AND r.type = 'group'));
    -- A room admin takes back an invitation (to a group: a request is not the opener's).
    CREATE POLICY "Room admins can withdraw invitations" ON public.chat_invitations
        FOR DELETE TO authenticated
        USING (public.room_role(room_id) = 'admin'
               AND EXISTS (SELECT 1 FROM public.chat_rooms r
                           WHERE r.id = room_id AND r.type = 'group'));

    -- Whether the caller has an invitation to the room (SECURITY DEFINER, as is_room_member,
    -- so that the rooms policy below does not recurse through the invitations policies).
    CREATE FUNCTION public.is_room_invitee(p_room_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM public.chat_invitations i
                       WHERE i.room_id = p_room_id AND i.user_id = auth.uid())
    $$;
    COMMENT ON FUNCTION public.is_room_invitee(uuid) IS
        'True when the caller has an invitation (or a message request) to the room.';
    -- The invitee reads the room row (its name and description) to decide; nothing else of it.
    CREATE POLICY "Invitees can view rooms they are invited to" ON public.chat_rooms
        FOR SELECT TO authenticated USING (public.is_room_invitee(id));

    CREATE OR REPLACE FUNCTION public.require_chat_consent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        actor uuid := auth.uid();
        kind room_type;
    BEGIN
        IF actor IS NULL OR NEW.user_id = actor THEN
            RETURN NEW;  -- maintenance and jobs, or joining oneself (the creator, an acceptance)
        END IF;
        IF EXISTS (SELECT 1 FROM followers f WHERE f.follower_id = NEW.user_id
                   AND f.following_id = actor) THEN
            DELETE FROM chat_invitations i WHERE i.room_id = NEW.room_id AND i.user_id = NEW.user_id;
            RETURN NEW;  -- they follow the adder: consent enough
        END IF;
        SELECT r.type INTO kind FROM chat_rooms r WHERE r.id = NEW.room_id;
        IF kind = 'direct' THEN
            IF EXISTS (SELECT 1 FROM user_privacy p WHERE p.user_id = NEW.user_id
                       AND p.dm_from = 'following') THEN
                RAISE EXCEPTION 'forbidden: this person accepts chats only from people they follow';
            END IF;
            INSERT INTO chat_invitations (room_id, user_id, invited_by, role)
            VALUES (NEW.room_id, NEW.user_id, actor, NEW.role)
            ON CONFLICT (room_id, user_id) DO NOTHING;
            IF FOUND THEN
                PERFORM public.chat_note_invitation(NEW.room_id, NEW.user_id, 'request');
            END IF;
            RETURN NEW;  -- a message request: both are in the room, the recipient has not agreed
        END IF;
        IF kind IS NULL OR EXISTS (SELECT 1 FROM chat_room_participants p
                                   WHERE p.room_id = NEW.room_id AND p.user_id = NEW.user_id) THEN
            RETURN NEW;  -- no such room, or already in it: the insert fails as before
        END IF;
        -- Not inserted, so the participant INSERT policy never runs: the same rule here,
        -- failing as the policy would.
        IF public.room_role(NEW.room_id) IS DISTINCT FROM 'admin' THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE =
                'new row violates row-level security policy for table "chat_room_participants"';
        END IF;
        INSERT INTO chat_invitations (room_id, user_id, invited_by, role)
        VALUES (NEW.room_id, NEW.user_id, actor, coalesce(NEW.role, 'member'))
        ON CONFLICT (room_id, user_id) DO NOTHING;
        IF FOUND THEN
            PERFORM public.chat_note_invitation(NEW.room_id, NEW.user_id, 'invitation');
        END IF;
        RETURN NULL;  -- an invitation instead of the membership
    END
    $$;

    -- The invitee's answer. SECURITY DEFINER: no request role writes invitations, and the
    -- participant row of an accepted group invitation is inserted by its invitee, who is no
    -- room admin.
    -- False when there is no invitation (already accepted, say, by a concurrent call).
    CREATE FUNCTION public.chat_accept_invitation(p_room_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        inv chat_invitations;
    BEGIN
        DELETE FROM chat_invitations i WHERE i.room_id = p_room_id AND i.user_id = auth.uid()
        RETURNING * INTO inv;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        IF (SELECT r.type FROM chat_rooms r WHERE r.id = p_room_id) = 'group' THEN
            INSERT INTO chat_room_participants (room_id, user_id, role)
            VALUES (p_room_id, inv.user_id, inv.role)
            ON CONFLICT (room_id, user_id) DO NOTHING;
        END IF;
        RETURN true;
    END
    $$;

    CREATE FUNCTION public.chat_decline_invitation(p_room_id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF (SELECT r.type FROM chat_rooms r WHERE r.id = p_room_id) = 'direct' THEN
            UPDATE chat_invitations i SET declined_at = coalesce(i.declined_at, now())
            WHERE i.room_id = p_room_id AND i.user_id = auth.uid();
        ELSE
            DELETE FROM chat_invitations i WHERE i.room_id = p_room_id AND i.user_id = auth.uid();
        END IF;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: no such invitation';
        END IF;
    END
    $$;

    -- The recipient of a message request answers it before writing in it.
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
    CREATE TRIGGER chat_messages_require_consent BEFORE INSERT ON public.chat_messages
        FOR EACH ROW EXECUTE FUNCTION public.chat_messages_require_consent();

    REVOKE ALL ON FUNCTION public.chat_accept_invitation(uuid),
        public.chat_decline_invitation(uuid), public.chat_messages_require_consent(),
        public.is_room_invitee(uuid), public.chat_note_invitation(uuid, uuid, text)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.chat_accept_invitation(uuid),
        public.chat_decline_invitation(uuid), public.is_room_invitee(uuid) TO authenticated;
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER chat_messages_require_consent ON public.chat_messages;
    DROP FUNCTION public.chat_messages_require_consent();
    DROP FUNCTION public.chat_decline_invitation(uuid);
    DROP FUNCTION public.chat_accept_invitation(uuid);
    """ + _CONSENT_0028 + """
    DROP POLICY "Invitees can view rooms they are invited to" ON public.chat_rooms;
    DROP FUNCTION public.is_room_invitee(uuid);
    DROP TABLE public.chat_invitations;
    DROP FUNCTION public.chat_note_invitation(uuid, uuid, text);
    """)
