"""A chat message sent again with the idempotency key of another is refused by the database.

Revision ID: 0049_chat_key_reuse
Revises: 0048_avatar_is_uploaded

``chat_send_message()`` (0008, 0015) made a message with an idempotency key the sender had
used already a retry: it returned the first message and wrote nothing, whatever the new
one said. The API compared the two afterwards (409 ``idempotency_key_reused``), but a
caller of the function in SQL was told its message was sent when it was not. Now the
function itself refuses a key reused for another message (other content, type or file; what
an edit or a deletion changed since is not compared) with ``idempotency_key_reused`` and
the first message's id as the error's detail. ``chat_send_messages()`` (0034, 0035) returns
that detail with a failed item's error, so the API names the earlier message as before.

Both functions are restated whole; the downgrade restores them as they were.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0049_chat_key_reuse"
down_revision = "0048_avatar_is_uploaded"
branch_labels = None
depends_on = None

# The function as 0015 wrote it, and what this adds to it.
_SEND_MESSAGE = """
CREATE OR REPLACE FUNCTION public.chat_send_message(p_room_id uuid, p_content text, p_message_type message_type, p_file_id uuid, p_idempotency_key text)
 RETURNS SETOF chat_messages
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
{replay_check}        END IF;
        RETURN NEXT msg;
    END
    $function$;
"""

# The function as 0035 wrote it, and what this adds to it.
_SEND_MESSAGES = """
CREATE OR REPLACE FUNCTION public.chat_send_messages(p_items jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
    DECLARE
        items jsonb[];        -- in the order they are sent: by room, then as given
        ords bigint[];        -- each one's place in p_items
        n integer;
        sent uuid[];          -- the message each item sent, NULL while it has none
        failed boolean[];
        errors jsonb[] := '{{}}';
        run_start integer := 1;
        run_stop integer;
        cur integer;
        v jsonb;
        msg public.chat_messages;
        claims_set jsonb;     -- the claims and subject the transaction carries now
        sub_set text;
        err_state text;
        err_message text;
        err_constraint text;{detail_declared}
        results jsonb;
    BEGIN
        IF current_user <> 'service_role' THEN
            RAISE EXCEPTION 'forbidden: only the server sends messages in batches';
        END IF;
        IF jsonb_typeof(p_items) <> 'array' THEN
            RAISE EXCEPTION 'validation_error: the batch is a JSON array';
        END IF;
        SELECT array_agg(i.value ORDER BY i.value ->> 'room_id', i.ord),
               array_agg(i.ord ORDER BY i.value ->> 'room_id', i.ord)
        INTO items, ords
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS i(value, ord);
        n := coalesce(array_length(items, 1), 0);
        sent := array_fill(NULL::uuid, ARRAY[n]);
        failed := array_fill(false, ARRAY[n]);
        -- Every item is sent as an authenticated user: set once, outside the runs, so
        -- that no rolled-back run takes it back.
        PERFORM pg_catalog.set_config('role', 'authenticated', true),
                pg_catalog.set_config('request.jwt.claim.role', 'authenticated', true);
        run_stop := n;
        -- A run is one subtransaction. When an item of it fails, everything the run
        -- wrote is undone: the item is marked failed with its error, the items before
        -- it are sent again as a run of their own, and the next run starts after it.
        -- Each failure marks one more item, so the loop ends; an item is sent at most
        -- twice unless the database changes under the batch.
        WHILE run_start <= n LOOP
            BEGIN
                FOR k IN run_start..run_stop LOOP
                    CONTINUE WHEN failed[k];
                    cur := k;
                    v := items[k];
                    IF v -> 'claims' IS DISTINCT FROM claims_set
                       OR v ->> 'sub' IS DISTINCT FROM sub_set THEN
                        PERFORM pg_catalog.set_config('request.jwt.claims', (
                                    -- The claims as given, but never another role or subject.
                                    coalesce(v -> 'claims', '{{}}'::jsonb)
                                    || jsonb_build_object('role', 'authenticated',
                                                          'sub', v ->> 'sub')
                                )::text, true),
                                pg_catalog.set_config('request.jwt.claim.sub', v ->> 'sub', true);
                        claims_set := v -> 'claims';
                        sub_set := v ->> 'sub';
                    END IF;
                    IF NOT public.session_is_active(CAST(v ->> 'session' AS uuid),
                                                    CAST(v ->> 'sub' AS uuid)) THEN
                        RAISE EXCEPTION 'session_ended: This session has ended; sign in again';
                    END IF;
                    SELECT * INTO msg FROM public.chat_send_message(
                        CAST(v ->> 'room_id' AS uuid), v ->> 'content',
                        CAST(v ->> 'message_type' AS public.message_type),
                        CAST(v ->> 'file_id' AS uuid), v ->> 'key');
                    sent[k] := msg.id;
                END LOOP;
                run_start := run_stop + 1;
                run_stop := n;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE,
                                        err_message = MESSAGE_TEXT,
                                        err_constraint = CONSTRAINT_NAME{detail_read};
                failed[cur] := true;
                errors := errors || jsonb_build_object(
                    'ord', ords[cur], 'sqlstate', err_state, 'error', err_message,
                    'constraint', nullif(err_constraint, ''){detail_kept});
                FOR k IN run_start..cur - 1 LOOP
                    sent[k] := NULL;
                END LOOP;
                -- The run's claims were rolled back with it.
                claims_set := NULL;
                sub_set := NULL;
                IF cur > run_start THEN
                    run_stop := cur - 1;
                ELSE
                    run_start := cur + 1;
                    run_stop := n;
                END IF;
            END;
        END LOOP;
        PERFORM pg_catalog.set_config('role', 'service_role', true),
                pg_catalog.set_config('request.jwt.claims', '{{"role": "service_role"}}', true),
                pg_catalog.set_config('request.jwt.claim.sub', '', true),
                pg_catalog.set_config('request.jwt.claim.role', 'service_role', true);
        -- What each sender reads back: the message as GET .../messages shows it. The
        -- arrays are read through sub-selects so that the plan does not depend on
        -- their length: PL/pgSQL then keeps one plan instead of planning it per batch.
        SELECT coalesce(jsonb_agg(r.body ORDER BY r.ord), '[]'::jsonb) INTO results
        FROM (
            SELECT s.ord, jsonb_build_object('ord', s.ord, 'message', jsonb_build_object(
                       'id', m.id, 'room_id', m.room_id, 'seq', m.seq,
                       'sender_id', m.sender_id, 'sender_username', su.username,
                       'content', m.content, 'message_type', m.message_type,
                       'file_url', m.file_url, 'created_at', m.created_at,
                       'edited_at', m.edited_at, 'deleted_at', m.deleted_at,
                       'is_read', coalesce((
                           SELECT min(p.last_read_seq) FROM public.chat_room_participants p
                           WHERE p.room_id = m.room_id AND p.user_id <> m.sender_id
                       ) >= m.seq, false))) AS body
            FROM unnest((SELECT ords), (SELECT sent)) AS s(ord, id)
            JOIN public.chat_messages m ON m.id = s.id
            LEFT JOIN public.users su ON su.id = m.sender_id
            UNION ALL
            SELECT (e.value ->> 'ord')::bigint, e.value FROM unnest((SELECT errors)) AS e(value)
        ) r;
        RETURN jsonb_build_object(
            'results', results,
            'events', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                 'room_id', e.room_id, 'seq', e.seq, 'type', e.type,
                                 'payload', e.payload, 'created_at', e.created_at)
                                 ORDER BY e.ord), '[]'::jsonb)
                       FROM public.chat_transaction_events()
                            WITH ORDINALITY AS e(room_id, seq, type, payload, created_at, ord)));
    END
    $function$;
"""


_REPLAY_CHECK = """            -- The same key for other content, type or file is another message, not a
            -- retry of this one (what an edit or a deletion changed since is not compared).
            IF msg.message_type IS DISTINCT FROM p_message_type
               OR (msg.deleted_at IS NULL
                   AND ((msg.edited_at IS NULL AND msg.content IS DISTINCT FROM p_content)
                        OR (p_file_id IS NOT NULL AND msg.file_id IS DISTINCT FROM p_file_id)))
            THEN
                RAISE EXCEPTION 'idempotency_key_reused: This idempotency key was used for another message'
                    USING DETAIL = msg.id::text;
            END IF;
"""
_DETAIL = {
    "detail_declared": "\n        err_detail text;",
    "detail_read": ",\n                                        err_detail = PG_EXCEPTION_DETAIL",
    "detail_kept": ",\n                    'detail', nullif(err_detail, '')",
}


def upgrade() -> None:
    run_sql(_SEND_MESSAGE.format(replay_check=_REPLAY_CHECK) + _SEND_MESSAGES.format(**_DETAIL))


def downgrade() -> None:
    run_sql(_SEND_MESSAGE.format(replay_check="")
            + _SEND_MESSAGES.format(**{key: "" for key in _DETAIL}))
