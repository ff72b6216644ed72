"""Chat rooms, messages and read state for realtime delivery.

Revision ID: 0008_chat_realtime
Revises: 0007_follows_feed_notifications

What this revision adds (docs/schema.md lists it beside the seed):

1. Sequences without gaps, allocated under the room row lock in the inserting
   transaction: ``chat_rooms.last_seq`` numbers the messages of a room
   (``chat_messages.seq``), ``chat_rooms.last_event_seq`` numbers the room's
   events (``chat_room_events.seq``). A rolled-back transaction gives its
   numbers back with it, and a later one waits for the lock, so a committed
   number ``n`` implies every number below ``n`` is committed.
2. ``chat_room_events``: the log a realtime client resumes from. Triggers write
   one row per message created/updated/deleted, room updated, participant
   added/removed/updated and read position moved, whatever code path made the
   change. Readable by room participants (RLS). The API publishes the rows of
   its own transaction after commit (``chat_transaction_events()``).
3. Messages: ``idempotency_key`` (unique per sender), ``edited_at``,
   ``deleted_at`` (soft delete keeps the row and its seq; content blanked),
   content limit 10,000 characters (was 5,000). The API sends through
   ``chat_send_message()`` (idempotent) and soft-deletes through
   ``chat_delete_message()`` (sender, or a room moderator/admin): the row keeps
   its seq. Plain SQL keeps 0003's privileges (a hard DELETE by the sender or a
   moderator still works and leaves a gap; the API never does it).
4. Direct rooms: ``direct_pair_key`` (the two user ids, ordered) with a unique
   index, set when a direct room has its two participants; ``chat_open_direct_room()``
   returns the existing room or creates it, safe under concurrent calls. Requests
   cannot remove either participant of a direct room.
5. Read state: ``chat_room_participants.last_read_seq`` (never moves back),
   moved by ``chat_mark_read()``.
6. Group rooms: ``chat_post_membership_messages()`` posts the ``system``
   messages for the joins and leaves of the calling transaction (the API calls
   it); moderators remove members.
7. ``notifications`` INSERT/UPDATE (unread) send ``pg_notify('focushub_notifications')``
   so realtime gateways deliver ``notification.created``.
"""

from focushub.migrations.sql import run_sql

revision = "0008_chat_realtime"
down_revision = "0007_follows_feed_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- =================================================================
    -- Step 1. Columns.
    -- =================================================================
    ALTER TABLE chat_rooms
        ADD COLUMN last_seq bigint NOT NULL DEFAULT 0,
        ADD COLUMN last_event_seq bigint NOT NULL DEFAULT 0,
        ADD COLUMN last_activity_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN direct_pair_key text;
    COMMENT ON COLUMN chat_rooms.last_seq IS
        'Sequence number of the latest message of the room (messages are numbered 1, 2, ... without gaps).';
    COMMENT ON COLUMN chat_rooms.last_event_seq IS
        'Sequence number of the latest chat_room_events row of the room.';
    COMMENT ON COLUMN chat_rooms.direct_pair_key IS
        'Direct rooms only: the two participants'' ids, smaller first, joined by '':''.';

    ALTER TABLE chat_messages
        ADD COLUMN seq bigint,
        ADD COLUMN idempotency_key varchar(100),
        ADD COLUMN edited_at timestamptz,
        ADD COLUMN deleted_at timestamptz;

    ALTER TABLE chat_room_participants
        ADD COLUMN last_read_seq bigint NOT NULL DEFAULT 0;
    COMMENT ON COLUMN chat_room_participants.last_read_seq IS
        'Seq of the latest message this participant has read; never moves backwards.';
    COMMENT ON COLUMN chat_messages.is_read IS
        'Unused: read state is chat_room_participants.last_read_seq (per participant).';

    -- Existing data: number messages in creation order, rooms take their
    -- activity from their latest message, direct rooms their pair key.
    UPDATE chat_messages m SET seq = n.rn
    FROM (SELECT id, row_number() OVER (PARTITION BY room_id ORDER BY created_at, id) AS rn
          FROM chat_messages) n
    WHERE n.id = m.id;
    UPDATE chat_rooms r SET last_seq = s.max_seq, last_activity_at = s.last_at
    FROM (SELECT room_id, max(seq) AS max_seq, max(created_at) AS last_at
          FROM chat_messages GROUP BY room_id) s
    WHERE s.room_id = r.id;
    UPDATE chat_rooms r SET last_activity_at = r.created_at
    WHERE NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.room_id = r.id);
    UPDATE chat_rooms r SET direct_pair_key = k.pair_key
    FROM (
        SELECT room_id, pair_key,
               row_number() OVER (PARTITION BY pair_key ORDER BY room_id) AS rn
        FROM (SELECT p.room_id, min(p.user_id::text) || ':' || max(p.user_id::text) AS pair_key
              FROM chat_room_participants p
              JOIN chat_rooms r2 ON r2.id = p.room_id AND r2.type = 'direct'
              GROUP BY p.room_id HAVING count(*) = 2) pairs
    ) k
    WHERE k.room_id = r.id AND k.rn = 1;

    ALTER TABLE chat_messages ALTER COLUMN seq SET NOT NULL;
    CREATE UNIQUE INDEX chat_messages_room_seq_key ON chat_messages (room_id, seq);
    CREATE UNIQUE INDEX chat_messages_sender_idempotency_key
        ON chat_messages (sender_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE UNIQUE INDEX chat_rooms_direct_pair_key ON chat_rooms (direct_pair_key);
    CREATE INDEX idx_chat_rooms_last_activity ON chat_rooms (last_activity_at DESC, id DESC);
    CREATE INDEX idx_chat_room_participants_user_id ON chat_room_participants (user_id);

    ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_content_length;
    ALTER TABLE chat_messages
        ADD CONSTRAINT chat_messages_content_length CHECK (char_length(content) <= 10000),
        ADD CONSTRAINT chat_messages_idempotency_key_check CHECK (btrim(idempotency_key) <> '');

    -- =================================================================
    -- Step 2. The room event log.
    -- =================================================================
    CREATE TABLE chat_room_events (
        room_id uuid NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        type text NOT NULL,
        payload jsonb NOT NULL,
        xact_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (room_id, seq)
    );
    COMMENT ON TABLE chat_room_events IS
        'What happened in a room, numbered per room without gaps; realtime clients resume from it.';
    ALTER TABLE chat_room_events ENABLE ROW LEVEL SECURITY;
    CREATE POLICY "Participants can view room events" ON chat_room_events
        FOR SELECT TO authenticated USING (public.is_room_member(room_id));
    REVOKE ALL ON chat_room_events FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT ON chat_room_events TO authenticated;
    GRANT ALL ON chat_room_events TO service_role;

    -- Appends one event, numbered under the room row lock, and remembers it
    -- in a transaction-local setting for chat_transaction_events(). Does
    -- nothing while the room itself is being deleted. Called by triggers only.
    CREATE FUNCTION chat_append_room_event(p_room_id uuid, p_type text, p_payload jsonb)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        next_seq bigint;
    BEGIN
        UPDATE chat_rooms SET last_event_seq = last_event_seq + 1
        WHERE id = p_room_id
        RETURNING last_event_seq INTO next_seq;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        INSERT INTO chat_room_events (room_id, seq, type, payload)
        VALUES (p_room_id, next_seq, p_type, p_payload);
        PERFORM set_config('focushub.tx_room_events',
                           coalesce(current_setting('focushub.tx_room_events', true), '')
                           || p_room_id::text || ':' || next_seq::text || ',',
                           true);
    END
    $$;

    -- The events written by the calling transaction, in order. The setting
    -- names them cheaply (primary key lookups); the transaction id check
    -- makes a forged setting useless.
    CREATE FUNCTION public.chat_transaction_events()
    RETURNS TABLE (room_id uuid, seq bigint, type text, payload jsonb, created_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT e.room_id, e.seq, e.type, e.payload, e.created_at
        FROM unnest(string_to_array(
                 rtrim(coalesce(current_setting('focushub.tx_room_events', true), ''), ','), ','))
             WITH ORDINALITY AS k(item, ord)
        JOIN chat_room_events e
          ON e.room_id = split_part(k.item, ':', 1)::uuid
         AND e.seq = split_part(k.item, ':', 2)::bigint
        WHERE e.xact_id = pg_current_xact_id_if_assigned()
        ORDER BY k.ord
    $$;

    CREATE FUNCTION chat_message_json(m chat_messages) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
        SELECT jsonb_build_object(
            'id', m.id, 'room_id', m.room_id, 'seq', m.seq, 'sender_id', m.sender_id,
            'content', m.content, 'message_type', m.message_type, 'file_url', m.file_url,
            'created_at', m.created_at, 'edited_at', m.edited_at, 'deleted_at', m.deleted_at)
    $$;

    -- =================================================================
    -- Step 3. Messages: numbering, idempotency, edit rules, events.
    -- =================================================================

    -- 3a. Before insert: lock the room, skip a retried send (same sender,
    -- same idempotency key, already committed: the row is silently not
    -- inserted and the API returns the first one), refuse archived rooms,
    -- then take the next seq. Locking first and looking for the key second
    -- means a concurrent retry waits for the first send and then sees it,
    -- so no seq is ever allocated for a message that is not written.
    CREATE FUNCTION chat_message_before_insert() RETURNS trigger
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
    CREATE TRIGGER chat_message_before_insert_trigger
        BEFORE INSERT ON chat_messages
        FOR EACH ROW EXECUTE FUNCTION chat_message_before_insert();

    -- 3b. Rules for requests that edit a message: deleted and system
    -- messages are final; an edit stamps edited_at. (RLS already limits
    -- edits to the sender.) Soft deletion runs in chat_delete_message().
    CREATE FUNCTION chat_message_before_update() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
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
            END IF;
        END IF;
        IF NEW.content IS DISTINCT FROM OLD.content AND NEW.deleted_at IS NULL THEN
            NEW.edited_at := now();
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER chat_message_before_update_trigger
        BEFORE UPDATE ON chat_messages
        FOR EACH ROW EXECUTE FUNCTION chat_message_before_update();

    CREATE FUNCTION chat_message_events() RETURNS trigger
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
        ELSIF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
            PERFORM chat_append_room_event(NEW.room_id, 'message.deleted', chat_message_json(NEW));
        ELSIF NEW.content IS DISTINCT FROM OLD.content OR NEW.file_url IS DISTINCT FROM OLD.file_url THEN
            PERFORM chat_append_room_event(NEW.room_id, 'message.updated', chat_message_json(NEW));
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER chat_message_events_trigger
        AFTER INSERT OR UPDATE OR DELETE ON chat_messages
        FOR EACH ROW EXECUTE FUNCTION chat_message_events();

    -- 3c. Sending through the API. The caller sends as themselves into a
    -- room they participate in, never a system message (what the INSERT
    -- policy says for plain inserts), and may give an idempotency key: a
    -- retry with the same key returns the first message and writes nothing.
    -- A function rather than a column grant because the key must reach the
    -- insert trigger, which decides under the room lock.
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

    -- 3d. Soft delete: the sender, or a moderator or admin of the room.
    -- The row keeps its seq; content and file are blanked.
    CREATE FUNCTION public.chat_delete_message(p_message_id uuid) RETURNS SETOF chat_messages
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        msg chat_messages;
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
        IF msg.deleted_at IS NULL THEN
            UPDATE chat_messages SET content = '', file_url = NULL, deleted_at = now()
            WHERE id = p_message_id
            RETURNING * INTO msg;
        END IF;
        RETURN NEXT msg;
    END
    $$;

    -- =================================================================
    -- Step 4. Direct rooms: one per pair of users.
    -- =================================================================
    CREATE FUNCTION public.chat_open_direct_room(p_other uuid)
    RETURNS TABLE (room_id uuid, created boolean)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        me uuid := auth.uid();
        pair text;
        new_id uuid;
    BEGIN
        IF me IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to open a chat';
        END IF;
        IF p_other = me THEN
            RAISE EXCEPTION 'validation_error: a direct chat needs another user';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_other AND u.is_active) THEN
            RAISE EXCEPTION 'not_found: no such user';
        END IF;
        pair := least(me::text, p_other::text) || ':' || greatest(me::text, p_other::text);
        -- A concurrent creator of the same pair makes this wait on the unique
        -- index and then do nothing; the room is then read below.
        INSERT INTO chat_rooms (name, type, created_by, direct_pair_key)
        VALUES ('Direct chat', 'direct', me, pair)
        ON CONFLICT (direct_pair_key) DO NOTHING
        RETURNING id INTO new_id;
        IF new_id IS NOT NULL THEN
            INSERT INTO chat_room_participants (room_id, user_id, role)
            VALUES (new_id, p_other, 'admin');
            RETURN QUERY SELECT new_id, true;
            RETURN;
        END IF;
        RETURN QUERY SELECT r.id, false FROM chat_rooms r WHERE r.direct_pair_key = pair;
    END
    $$;

    -- =================================================================
    -- Step 5. Participants: events, system messages, rules.
    -- =================================================================

    -- 5a. Replaces 0003's version: the read cursor is last_read_seq too, and
    -- it never moves backwards.
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
        END IF;
        IF (NEW.last_read_at IS DISTINCT FROM OLD.last_read_at
            OR NEW.last_read_seq IS DISTINCT FROM OLD.last_read_seq)
           AND OLD.user_id IS DISTINCT FROM auth.uid()
        THEN
            RAISE EXCEPTION 'forbidden: only the participant moves their own read position';
        END IF;
        RETURN NEW;
    END
    $$;

    -- 5b. Moving one's read position (forward only, never past the last
    -- message). A function so that the column needs no grant of its own.
    CREATE FUNCTION public.chat_mark_read(p_room_id uuid, p_seq bigint)
    RETURNS TABLE (last_read_seq bigint, unread_count bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
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
    $$;

    -- 5c. A direct room keeps its two people: requests may not remove
    -- either (deleting the room or a user account still cascades: those
    -- deletes run as the table owner).
    CREATE FUNCTION chat_participant_before_delete() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF current_user IN ('anon', 'authenticated')
           AND EXISTS (SELECT 1 FROM chat_rooms r WHERE r.id = OLD.room_id AND r.type = 'direct')
           AND EXISTS (SELECT 1 FROM users u WHERE u.id = OLD.user_id)
        THEN
            RAISE EXCEPTION 'conflict: a direct chat keeps its two participants';
        END IF;
        RETURN OLD;
    END
    $$;
    CREATE TRIGGER chat_participant_before_delete_trigger
        BEFORE DELETE ON chat_room_participants
        FOR EACH ROW EXECUTE FUNCTION chat_participant_before_delete();

    -- 5d. Participant events; the last admin cannot step down. Fires before
    -- promote_room_admin_on_leave_trigger (triggers run in name order), so
    -- "removed" precedes the promotion's "updated".
    CREATE FUNCTION chat_participant_events() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        room chat_rooms;
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF NEW.role IS DISTINCT FROM OLD.role THEN
                -- A room keeps an admin. The room row lock makes two admins stepping
                -- down at once see each other's change.
                IF OLD.role = 'admin' THEN
                    PERFORM 1 FROM chat_rooms r WHERE r.id = NEW.room_id FOR NO KEY UPDATE;
                    IF NOT EXISTS (SELECT 1 FROM chat_room_participants p
                                   WHERE p.room_id = NEW.room_id AND p.role = 'admin') THEN
                        RAISE EXCEPTION 'conflict: a room keeps at least one admin';
                    END IF;
                END IF;
                PERFORM chat_append_room_event(NEW.room_id, 'participant.updated', jsonb_build_object(
                    'room_id', NEW.room_id, 'user_id', NEW.user_id, 'role', NEW.role,
                    'joined_at', NEW.joined_at));
            END IF;
            IF NEW.last_read_seq IS DISTINCT FROM OLD.last_read_seq THEN
                PERFORM chat_append_room_event(NEW.room_id, 'read.updated', jsonb_build_object(
                    'room_id', NEW.room_id, 'user_id', NEW.user_id,
                    'last_read_seq', NEW.last_read_seq));
            END IF;
            RETURN NULL;
        END IF;

        SELECT * INTO room FROM chat_rooms r WHERE r.id = coalesce(NEW.room_id, OLD.room_id)
        FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;  -- the room itself is being deleted
        END IF;
        IF TG_OP = 'INSERT' THEN
            -- A direct room that reaches its two people takes their pair key, so a
            -- second room for the same pair fails on chat_rooms_direct_pair_key
            -- whichever path created it (chat_open_direct_room sets it up front).
            IF room.type = 'direct' AND room.direct_pair_key IS NULL THEN
                UPDATE chat_rooms r SET direct_pair_key = k.pair_key
                FROM (SELECT min(p.user_id::text) || ':' || max(p.user_id::text) AS pair_key
                      FROM chat_room_participants p WHERE p.room_id = NEW.room_id
                      HAVING count(*) = 2) k
                WHERE r.id = NEW.room_id;
            END IF;
            PERFORM chat_append_room_event(NEW.room_id, 'participant.added', jsonb_build_object(
                'room_id', NEW.room_id, 'user_id', NEW.user_id, 'role', NEW.role,
                'joined_at', NEW.joined_at, 'by', auth.uid()));
        ELSE
            PERFORM chat_append_room_event(OLD.room_id, 'participant.removed', jsonb_build_object(
                'room_id', OLD.room_id, 'user_id', OLD.user_id, 'by', auth.uid()));
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER chat_participant_events_trigger
        AFTER INSERT OR UPDATE OR DELETE ON chat_room_participants
        FOR EACH ROW EXECUTE FUNCTION chat_participant_events();

    -- 5e. System messages for joins and leaves in group rooms, posted by the
    -- API after it changed membership: one per participant.added/removed
    -- event of the calling transaction (so nobody can post one for a change
    -- that did not happen). Plain SQL changes post none.
    CREATE FUNCTION public.chat_post_membership_messages() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        ev record;
        posted integer := 0;
    BEGIN
        FOR ev IN
            SELECT e.room_id, e.type, (e.payload ->> 'user_id')::uuid AS user_id,
                   (e.payload ->> 'by')::uuid AS by_user, r.created_by, u.username
            FROM public.chat_transaction_events() e
            JOIN chat_rooms r ON r.id = e.room_id AND r.type = 'group'
            JOIN users u ON u.id = (e.payload ->> 'user_id')::uuid
            WHERE e.type IN ('participant.added', 'participant.removed')
            ORDER BY e.room_id, e.seq
        LOOP
            INSERT INTO chat_messages (room_id, sender_id, content, message_type)
            VALUES (ev.room_id, ev.user_id,
                    '@' || ev.username || CASE
                        WHEN ev.type = 'participant.removed' AND ev.by_user = ev.user_id THEN ' left'
                        WHEN ev.type = 'participant.removed' THEN ' was removed'
                        WHEN ev.user_id = ev.created_by AND ev.by_user = ev.user_id
                            THEN ' created the room'
                        ELSE ' joined' END,
                    'system');
            posted := posted + 1;
        END LOOP;
        RETURN posted;
    END
    $$;

    -- 5f. Moderators remove members (admins already remove anyone).
    CREATE POLICY "Room moderators can remove members" ON chat_room_participants
        FOR DELETE TO authenticated
        USING (role = 'member' AND public.room_role(room_id) = 'moderator');

    -- =================================================================
    -- Step 6. Rooms: room.updated events.
    -- =================================================================
    CREATE FUNCTION chat_room_events_on_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NEW.name IS DISTINCT FROM OLD.name OR NEW.description IS DISTINCT FROM OLD.description
           OR NEW.is_active IS DISTINCT FROM OLD.is_active THEN
            PERFORM chat_append_room_event(NEW.id, 'room.updated', jsonb_build_object(
                'id', NEW.id, 'name', NEW.name, 'description', NEW.description,
                'is_active', NEW.is_active, 'updated_at', NEW.updated_at));
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER chat_room_events_on_update_trigger
        AFTER UPDATE OF name, description, is_active ON chat_rooms
        FOR EACH ROW EXECUTE FUNCTION chat_room_events_on_update();

    -- =================================================================
    -- Step 7. Notifications reach realtime gateways. NOTIFY is delivered
    -- only when the transaction commits. Payloads over NOTIFY's limit go
    -- as the id alone; the gateway loads the row as the recipient.
    -- =================================================================
    CREATE FUNCTION notify_realtime_notification() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    DECLARE
        body text;
    BEGIN
        IF NEW.is_read THEN
            RETURN NULL;
        END IF;
        body := jsonb_build_object(
            'user_id', NEW.user_id,
            'notification', jsonb_build_object(
                'id', NEW.id, 'type', NEW.type, 'title', NEW.title, 'message', NEW.message,
                'data', NEW.data, 'is_read', NEW.is_read, 'created_at', NEW.created_at))::text;
        IF octet_length(body) > 7000 THEN
            body := jsonb_build_object('user_id', NEW.user_id, 'id', NEW.id)::text;
        END IF;
        PERFORM pg_notify('focushub_notifications', body);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_realtime_notification_trigger
        AFTER INSERT OR UPDATE ON notifications
        FOR EACH ROW EXECUTE FUNCTION notify_realtime_notification();

    -- =================================================================
    -- Step 8. Privileges.
    -- =================================================================
    -- Column privileges stay those of 0003: the new columns are written by
    -- the functions and triggers above only.
    -- A message is deleted by blanking it (chat_delete_message keeps its seq), so
    -- request roles lose the hard DELETE 0003 gave them: a removed row would be a
    -- gap in the room's sequence that resuming clients could not tell from loss.
    -- Rows still go with their room (ON DELETE CASCADE needs no privilege).
    REVOKE DELETE ON chat_messages FROM authenticated;
    REVOKE ALL ON FUNCTION
        chat_append_room_event(uuid, text, jsonb), public.chat_transaction_events(),
        chat_message_json(chat_messages), chat_message_before_insert(),
        chat_message_before_update(), chat_message_events(), public.chat_delete_message(uuid),
        public.chat_send_message(uuid, text, message_type, text, text),
        public.chat_mark_read(uuid, bigint), public.chat_post_membership_messages(),
        public.chat_open_direct_room(uuid), chat_participant_before_delete(),
        chat_participant_events(), chat_room_events_on_update(), notify_realtime_notification()
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.chat_transaction_events(), public.chat_delete_message(uuid),
        public.chat_open_direct_room(uuid),
        public.chat_send_message(uuid, text, message_type, text, text),
        public.chat_mark_read(uuid, bigint), public.chat_post_membership_messages()
        TO authenticated;
    GRANT EXECUTE ON FUNCTION public.chat_transaction_events() TO service_role;
    GRANT EXECUTE ON FUNCTION chat_message_json(chat_messages) TO authenticated, service_role;
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- Step 8
    GRANT DELETE ON chat_messages TO authenticated;

    -- Step 7
    DROP TRIGGER notify_realtime_notification_trigger ON notifications;
    DROP FUNCTION notify_realtime_notification();
    -- Step 6
    DROP TRIGGER chat_room_events_on_update_trigger ON chat_rooms;
    DROP FUNCTION chat_room_events_on_update();
    -- Step 5
    DROP POLICY "Room moderators can remove members" ON chat_room_participants;
    DROP TRIGGER chat_participant_events_trigger ON chat_room_participants;
    DROP FUNCTION chat_participant_events();
    DROP FUNCTION public.chat_post_membership_messages();
    DROP FUNCTION public.chat_mark_read(uuid, bigint);
    DROP TRIGGER chat_participant_before_delete_trigger ON chat_room_participants;
    DROP FUNCTION chat_participant_before_delete();
    CREATE OR REPLACE FUNCTION check_participant_update() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NEW.room_id IS DISTINCT FROM OLD.room_id OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            RAISE EXCEPTION 'conflict: a participant cannot move to another room or user';
        END IF;
        IF current_user NOT IN ('anon', 'authenticated') THEN
            RETURN NEW;
        END IF;
        IF NEW.role IS DISTINCT FROM OLD.role
           AND public.room_role(OLD.room_id) IS DISTINCT FROM 'admin'
        THEN
            RAISE EXCEPTION 'forbidden: only room admins change participant roles';
        END IF;
        IF NEW.last_read_at IS DISTINCT FROM OLD.last_read_at
           AND OLD.user_id IS DISTINCT FROM auth.uid()
        THEN
            RAISE EXCEPTION 'forbidden: only the participant moves their own read position';
        END IF;
        RETURN NEW;
    END
    $$;
    -- Step 4
    DROP FUNCTION public.chat_open_direct_room(uuid);
    -- Step 3
    DROP FUNCTION public.chat_delete_message(uuid);
    DROP FUNCTION public.chat_send_message(uuid, text, message_type, text, text);
    DROP TRIGGER chat_message_events_trigger ON chat_messages;
    DROP FUNCTION chat_message_events();
    DROP TRIGGER chat_message_before_update_trigger ON chat_messages;
    DROP FUNCTION chat_message_before_update();
    DROP TRIGGER chat_message_before_insert_trigger ON chat_messages;
    DROP FUNCTION chat_message_before_insert();
    -- Step 2
    DROP FUNCTION chat_message_json(chat_messages);
    DROP FUNCTION public.chat_transaction_events();
    DROP FUNCTION chat_append_room_event(uuid, text, jsonb);
    DROP TABLE chat_room_events;
    -- Step 1
    ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_idempotency_key_check;
    ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_content_length;
    ALTER TABLE chat_messages
        ADD CONSTRAINT chat_messages_content_length CHECK (char_length(content) <= 5000);
    DROP INDEX idx_chat_room_participants_user_id;
    DROP INDEX idx_chat_rooms_last_activity;
    DROP INDEX chat_rooms_direct_pair_key;
    DROP INDEX chat_messages_sender_idempotency_key;
    DROP INDEX chat_messages_room_seq_key;
    COMMENT ON COLUMN chat_messages.is_read IS
        'Unused: read state is chat_room_participants.last_read_at (per participant).';
    ALTER TABLE chat_room_participants DROP COLUMN last_read_seq;
    ALTER TABLE chat_messages
        DROP COLUMN deleted_at,
        DROP COLUMN edited_at,
        DROP COLUMN idempotency_key,
        DROP COLUMN seq;
    ALTER TABLE chat_rooms
        DROP COLUMN direct_pair_key,
        DROP COLUMN last_activity_at,
        DROP COLUMN last_event_seq,
        DROP COLUMN last_seq;
    """)
